//! The OpenAPI 3.1 document of the API, served at `/openapi.json`. Written here by hand next
//! to the router; `tests/http_api.rs` checks that every route of the router is in it and that
//! it is a valid OpenAPI document (by an independent validator).

use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

pub async fn openapi() -> impl IntoResponse {
    Json(spec())
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    })
}

/// The document.
pub fn spec() -> Value {
    let auth = json!([{ "apiKey": [] }]);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "mugai",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "CDR gateway: files in, files rebuilt without active content out.",
            "license": { "name": "Apache-2.0", "identifier": "Apache-2.0" }
        },
        "paths": {
            "/v1/sanitize": {
                "post": {
                    "operationId": "sanitize",
                    "summary": "Sanitize one file",
                    "description": "The body is the file (name in Content-Disposition), or multipart/form-data with one file part.",
                    "security": auth,
                    "requestBody": {
                        "required": true,
                        "content": {
                            "application/octet-stream": { "schema": { "type": "string", "format": "binary" } },
                            "multipart/form-data": {
                                "schema": { "type": "object", "properties": { "file": { "type": "string", "format": "binary" } } }
                            }
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "The clean file; the report id in X-Mugai-Report-Id.",
                            "headers": {
                                "X-Mugai-Report-Id": { "schema": { "type": "string" } },
                                "X-Mugai-Outcome": { "schema": { "type": "string", "enum": ["clean", "disarmed"] } },
                                "X-Mugai-Sha256": { "schema": { "type": "string" } }
                            },
                            "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } }
                        },
                        "400": error_response("No file, or a broken multipart body."),
                        "401": error_response("No or unknown API key."),
                        "403": error_response("The key lacks the submit role."),
                        "413": error_response("Larger than http.max_body_bytes."),
                        "422": {
                            "description": "The file was refused (blocked, held or unprocessable).",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Refusal" } } }
                        },
                        "503": error_response("Every worker busy and the queue full; see Retry-After.")
                    }
                }
            },
            "/v1/reports/{id}": {
                "get": {
                    "operationId": "getReport",
                    "summary": "The report of a sanitized file",
                    "security": auth,
                    "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
                    "responses": {
                        "200": {
                            "description": "The report (schema mugai.report).",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Report" } } }
                        },
                        "401": error_response("No or unknown API key."),
                        "403": error_response("The key lacks the submit role."),
                        "404": error_response("No such report, or it expired.")
                    }
                }
            },
            "/v1/originals/{token}": {
                "get": {
                    "operationId": "getOriginal",
                    "summary": "An original kept by the gateway, through its signed link",
                    "parameters": [{ "name": "token", "in": "path", "required": true, "schema": { "type": "string" } }],
                    "responses": {
                        "200": {
                            "description": "The original bytes.",
                            "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } }
                        },
                        "403": error_response("Not released (needs a scan or an approval)."),
                        "404": error_response("Not a valid link, or nothing kept under it."),
                        "410": error_response("The link expired.")
                    }
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "summary": "The process answers",
                    "responses": { "200": { "description": "ok", "content": { "text/plain": { "schema": { "type": "string" } } } } }
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "summary": "The store works and the next hop accepts connections",
                    "responses": {
                        "200": { "description": "Ready.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Readiness" } } } },
                        "503": { "description": "Not ready.", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Readiness" } } } }
                    }
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics",
                    "responses": { "200": { "description": "Text exposition format.", "content": { "text/plain": { "schema": { "type": "string" } } } } }
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": { "200": { "description": "OpenAPI 3.1.", "content": { "application/json": { "schema": { "type": "object" } } } } }
                }
            }
        },
        "components": {
            "securitySchemes": {
                "apiKey": { "type": "http", "scheme": "bearer", "description": "An API key from http.api_keys." }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": { "error": { "type": "string" }, "message": { "type": "string" } }
                },
                "Refusal": {
                    "type": "object",
                    "required": ["outcome", "report_id", "report"],
                    "properties": {
                        "outcome": { "type": "string", "enum": ["blocked", "held", "error"] },
                        "reason": { "type": ["string", "null"] },
                        "report_id": { "type": "string" },
                        "report": { "$ref": "#/components/schemas/Report" }
                    }
                },
                "Report": {
                    "type": "object",
                    "required": ["schema", "outcome", "detected_kind", "input", "findings"],
                    "properties": {
                        "schema": { "type": "string" },
                        "outcome": { "type": "string", "enum": ["clean", "disarmed", "blocked", "held", "error"] },
                        "detected_kind": { "type": "string" },
                        "reason": { "type": "string" },
                        "input": { "type": "object" },
                        "output": { "type": "object" },
                        "findings": { "type": "array", "items": { "type": "object" } }
                    }
                },
                "Readiness": {
                    "type": "object",
                    "properties": { "store": { "type": "boolean" }, "next_hop": { "type": "boolean" } }
                }
            }
        }
    })
}
