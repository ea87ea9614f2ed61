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
    let mut doc = core();
    jobs_and_approvals(&mut doc);
    pages(&mut doc);
    doc
}

fn param(name: &str) -> Value {
    json!([{ "name": name, "in": "path", "required": true, "schema": { "type": "string" } }])
}

fn binary(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } }
    })
}

fn json_object(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "type": "object" } } } })
}

/// `/v1/jobs...`, the approval queue and held-archive unlock.
fn jobs_and_approvals(doc: &mut Value) {
    let auth = json!([{ "apiKey": [] }]);
    let paths = &mut doc["paths"];
    paths["/v1/jobs"] = json!({ "post": {
        "operationId": "submitJob",
        "summary": "Sanitize one file asynchronously",
        "description": "Same body as /v1/sanitize. The file is stored before 202 is answered; unfinished jobs run again after a restart. With callback_url (a host of http.callback_hosts) the result {id, status, outcome, sha256, report} is POSTed there when the job ends, with X-Mugai-Timestamp and X-Mugai-Signature: sha256=<hex HMAC-SHA256 under http.callback_secret of timestamp + '.' + body>; tried again 5 times on no 2xx.",
        "security": auth,
        "parameters": [{ "name": "callback_url", "in": "query", "required": false, "schema": { "type": "string", "format": "uri" } }],
        "requestBody": { "required": true, "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
        "responses": {
            "202": json_object("Accepted: {id, status, href}; Location names the job."),
            "400": error_response("No file, a broken multipart body, or a callback_url not allowed (callback_not_allowed)."),
            "401": error_response("No or unknown API key."),
            "403": error_response("The key lacks the submit role."),
            "408": error_response("The body took longer than http.body_timeout_secs."),
            "413": error_response("Larger than http.max_body_bytes."),
            "503": error_response("Too many unfinished jobs.")
        }
    }});
    paths["/v1/jobs/{id}"] = json!({ "get": {
        "operationId": "getJob",
        "summary": "A job's status (queued or done) and, when done, its outcome and report",
        "security": auth,
        "parameters": param("id"),
        "responses": {
            "200": json_object("{id, status, outcome, report, result}"),
            "401": error_response("No or unknown API key."),
            "404": error_response("No such job, or it expired.")
        }
    }});
    paths["/v1/jobs/{id}/result"] = json!({ "get": {
        "operationId": "getJobResult",
        "summary": "A finished job's clean file",
        "security": auth,
        "parameters": param("id"),
        "responses": {
            "200": binary("The clean file."),
            "401": error_response("No or unknown API key."),
            "404": error_response("No such job, or it expired."),
            "409": error_response("Not finished yet; see Retry-After."),
            "422": error_response("The file was refused; the job's report says why.")
        }
    }});
    paths["/v1/approvals"] = json!({ "get": {
        "operationId": "listApprovals",
        "summary": "Requests for originals awaiting an approver, oldest first",
        "security": auth,
        "responses": {
            "200": json_object("{pending: [{id, name, kind, outcome, size, received, requested}]}"),
            "401": error_response("No or unknown API key."),
            "403": error_response("The key lacks the approve role.")
        }
    }});
    for (verb, op, summary) in [
        ("approve", "approveOriginal", "Release a requested original (上長承認)"),
        ("deny", "denyOriginal", "Decline a request for an original"),
    ] {
        paths[format!("/v1/originals/{{id}}/{verb}")] = json!({ "post": {
            "operationId": op,
            "summary": summary,
            "security": auth,
            "parameters": param("id"),
            "responses": {
                "200": json_object("{id, state}"),
                "401": error_response("No or unknown API key."),
                "403": error_response("The key lacks the approve role."),
                "404": error_response("No pending request for this id.")
            }
        }});
    }
    paths["/v1/held/{token}/unlock"] = json!({ "post": {
        "operationId": "unlockHeld",
        "summary": "Open a held password archive, sanitize what it holds and return it",
        "description": "The token is the signed link of the held file (from a mail notice, or the `unlock` field of a 422 answer). Wrong passwords are limited per file.",
        "parameters": param("token"),
        "requestBody": { "required": true, "content": {
            "application/json": { "schema": { "type": "object", "required": ["password"], "properties": { "password": { "type": "string" } } } },
            "application/x-www-form-urlencoded": { "schema": { "type": "object", "properties": { "password": { "type": "string" } } } }
        } },
        "responses": {
            "200": binary("The sanitized archive."),
            "400": error_response("No password, or a wrong one."),
            "404": error_response("Not a valid link, or nothing kept under it."),
            "409": error_response("Not a held archive."),
            "410": error_response("The link expired."),
            "422": error_response("The archive opened but its contents were refused."),
            "429": error_response("Too many wrong passwords; see Retry-After.")
        }
    }});
}

/// The HTML pages for people (recipients and approvers).
fn pages(doc: &mut Value) {
    let html = |description: &str| json!({ "description": description, "content": { "text/html": { "schema": { "type": "string" } } } });
    let form = json!({ "required": true, "content": { "application/x-www-form-urlencoded": { "schema": { "type": "object" } } } });
    let paths = &mut doc["paths"];
    paths["/o/{token}"] = json!({ "get": {
        "operationId": "recipientPage", "summary": "The recipient page (Japanese; English by Accept-Language)",
        "parameters": param("token"),
        "responses": { "200": html("The page."), "404": html("Not a valid link."), "410": html("The link expired.") }
    }});
    paths["/o/{token}/clean"] = json!({ "get": {
        "operationId": "recipientClean", "summary": "The sanitized file",
        "parameters": param("token"),
        "responses": { "200": binary("The sanitized file."), "404": html("No such file.") }
    }});
    paths["/o/{token}/original"] = json!({ "get": {
        "operationId": "recipientOriginal", "summary": "The original, as http.originals allows",
        "parameters": param("token"),
        "responses": { "200": binary("The original."), "403": html("Not released."), "503": html("The scan could not run.") }
    }});
    for (path, op, summary) in [
        (
            "/o/{token}/request",
            "recipientRequest",
            "Request the original from an approver (form)",
        ),
        (
            "/o/{token}/unlock",
            "recipientUnlock",
            "Unlock a held archive with its password (form)",
        ),
    ] {
        paths[path] = json!({ "post": {
            "operationId": op, "summary": summary, "parameters": param("token"), "requestBody": form,
            "responses": { "303": { "description": "Back to the page." }, "400": html("Wrong password."), "403": html("Form not from this site.") }
        }});
    }
    paths["/approvals"] = json!({ "get": {
        "operationId": "approverPage", "summary": "The approver's page: sign-in, or pending requests",
        "responses": { "200": html("The page.") }
    }});
    for (path, op, summary) in [
        (
            "/approvals/login",
            "approverLogin",
            "Sign in with an approve-role key (form)",
        ),
        ("/approvals/logout", "approverLogout", "Sign out (form)"),
    ] {
        paths[path] = json!({ "post": {
            "operationId": op, "summary": summary, "requestBody": form,
            "responses": { "303": { "description": "Back to the page." }, "401": html("Not an approver's key."), "403": html("Form not from this site.") }
        }});
    }
    for (verb, op) in [("approve", "approverApprove"), ("deny", "approverDeny")] {
        paths[format!("/approvals/{{id}}/{verb}")] = json!({ "post": {
            "operationId": op, "summary": format!("{verb} a request (form, signed-in approver)"),
            "parameters": param("id"), "requestBody": form,
            "responses": { "303": { "description": "Back to the page." }, "403": html("Form not from this site."), "404": html("No pending request.") }
        }});
    }
    // The carry-in box (the internet-side listener's `carry_in` group).
    paths["/carry-in"] = json!({ "get": {
        "operationId": "carryInPage", "summary": "The carry-in box: sign-in, or the upload form",
        "responses": { "200": html("The page.") }
    }});
    for (path, op, summary) in [
        ("/carry-in/login", "carryInLogin", "Sign in to the carry-in box (form)"),
        (
            "/carry-in/logout",
            "carryInLogout",
            "Sign out of the carry-in box (form)",
        ),
    ] {
        paths[path] = json!({ "post": {
            "operationId": op, "summary": summary, "requestBody": form,
            "responses": { "303": { "description": "Back to the page." }, "401": html("Wrong name or password, or no carry-in right."), "403": html("Form not from this site.") }
        }});
    }
    paths["/carry-in/upload"] = json!({ "post": {
        "operationId": "carryInUpload",
        "summary": "Files for an LGWAN mailbox: sanitized, and a notice with links sent to the mailbox",
        "requestBody": { "required": true, "content": { "multipart/form-data": { "schema": {
            "type": "object",
            "required": ["csrf", "mailbox", "files"],
            "properties": {
                "csrf": { "type": "string" },
                "mailbox": { "type": "string", "format": "email" },
                "note": { "type": "string" },
                "files": { "type": "array", "items": { "type": "string", "format": "binary" } }
            }
        } } } },
        "responses": {
            "200": html("Sent: the page says so, with the reference."),
            "400": html("Refused: no file, too many, a mailbox not allowed, over the day's quota."),
            "401": html("Not signed in."),
            "403": html("Form not from this site."),
            "503": html("Busy, or the LGWAN-side MTA did not take the notice.")
        }
    }});
    paths["/display"] = json!({ "get": {
        "operationId": "displaySwitch", "summary": "Large text and high contrast for the pages (a cookie), then back",
        "responses": { "303": { "description": "Back to the page (this site's pages only)." } }
    }});
    // The admin console (signed-in administrators; others are sent to sign in, or 403).
    let admin = |summary: &str| {
        json!({
            "200": html(summary),
            "303": { "description": "Not signed in: to the sign-in page." },
            "403": html("Not an administrator.")
        })
    };
    paths["/admin"] = json!({ "get": {
        "operationId": "adminSearch", "summary": "Search messages (sender, recipient, subject, Message-ID, days, outcome)",
        "responses": admin("The search form and what it found.")
    }});
    paths["/admin/messages/{id}"] = json!({ "get": {
        "operationId": "adminMessage", "summary": "A message: its parts and its trace in the audit trail",
        "parameters": param("id"), "responses": admin("The message.")
    }});
    for (path, op, what) in [
        ("/admin/messages/{id}/original", "adminOriginal", "the original .eml"),
        ("/admin/parts/{id}/original", "adminPartOriginal", "a part's original"),
    ] {
        paths[path] = json!({ "post": {
            "operationId": op, "summary": format!("Take out {what} with a reason (audited first; form)"),
            "parameters": param("id"), "requestBody": form,
            "responses": { "200": binary("The original."), "400": html("No reason given."), "403": html("Not an administrator, or form not from this site."), "404": html("No such message or part.") }
        }});
    }
    for (verb, op, summary) in [
        (
            "release",
            "adminRelease",
            "Release a part's original as a request this administrator approves, with a reason (form)",
        ),
        (
            "revoke",
            "adminRevoke",
            "Revoke a part's link (its original goes at the next purge), with a reason (form)",
        ),
    ] {
        paths[format!("/admin/parts/{{id}}/{verb}")] = json!({ "post": {
            "operationId": op, "summary": summary, "parameters": param("id"), "requestBody": form,
            "responses": { "303": { "description": "Back to the message." }, "400": html("No reason given."), "403": html("Not an administrator, or form not from this site."), "404": html("No such part."), "409": html("Already decided, or no approval here.") }
        }});
    }
    paths["/admin/stats"] = json!({ "get": {
        "operationId": "adminStats", "summary": "Messages a day by outcome: a chart and a table",
        "responses": admin("The statistics.")
    }});
    paths["/admin/stats.csv"] = json!({ "get": {
        "operationId": "adminStatsCsv", "summary": "The same numbers as CSV",
        "responses": { "200": { "description": "day,outcome,messages", "content": { "text/csv": { "schema": { "type": "string" } } } }, "303": { "description": "Not signed in." }, "403": html("Not an administrator.") }
    }});
    paths["/admin/config"] = json!({ "get": {
        "operationId": "adminConfig", "summary": "The configuration in force, secrets redacted",
        "responses": admin("The configuration.")
    }});
}

/// The API core: sanitize, reports, originals, health.
fn core() -> Value {
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
                        "408": error_response("The body took longer than http.body_timeout_secs."),
            "413": error_response("Larger than http.max_body_bytes."),
                        "422": {
                            "description": "The file was refused (blocked, held or unprocessable).",
                            "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Refusal" } } }
                        },
                        "503": error_response("Every worker busy and the queue full; see Retry-After.")
                    }
                }
            },
            "/v1/receipt-key": {
                "get": {
                    "operationId": "getReceiptKey",
                    "summary": "The Ed25519 public key kept reports are signed with (their receipt; mugai verify --key)",
                    "responses": {
                        "200": { "description": "The key.", "content": { "application/json": { "schema": {
                            "type": "object", "properties": { "alg": { "type": "string" }, "key": { "type": "string" } }
                        } } } }
                    }
                }
            },
            "/v1/reports/{id}": {
                "get": {
                    "operationId": "getReport",
                    "summary": "The report of a sanitized file, signed (its receipt)",
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
                        "403": error_response("Not released: not yet approved (not_released, pending), declined (denied), or the scan found something (infected)."),
                        "503": error_response("The scan could not run (scan_unavailable); see Retry-After."),
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
                        "unlock": { "type": "string", "description": "For a held archive: the unlock call." },
                        "page": { "type": "string", "description": "For a held archive: its recipient page." },
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
