//! The HTTP API through its router (`oneshot`, no socket): every route and every error the
//! issue names — auth missing and wrong role, oversize, bad multipart, unknown ids, expired
//! and tampered links, a saturated engine — plus the OpenAPI contract (every route of the
//! router is in the document and every path of the document is routed). A real-socket test
//! compares the served clean file with the CLI's output for every engine fixture.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use mugai::ingress::http::{router, spec, AppState};
use mugai::pipeline::Pipeline;
use mugai::store::{NewPart, Store};
use mugai::{Config, Outcome};
use sha2::{Digest, Sha256};
use tower::ServiceExt;

const SUBMIT: &str = "mk_test_submit_key";
const APPROVE: &str = "mk_test_approve_key";
const LINK_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn hash(key: &str) -> String {
    mugai::report::hex(&Sha256::digest(key.as_bytes()))
}

struct Api {
    state: Arc<AppState>,
    _dir: tempfile::TempDir,
}

fn api(extra: &str) -> Api {
    let dir = tempfile::tempdir().expect("tempdir");
    let text = format!(
        "[serve]\ndata_dir = \"{}\"\nnext_hop = \"127.0.0.1:{}\"\n[audit]\nlog = \"{}\"\n[store]\nlink_key = \"{LINK_KEY}\"\n\
         [http]\napi_keys = [{{ name = \"fx\", sha256 = \"{}\", roles = [\"submit\"] }}, {{ name = \"boss\", sha256 = \"{}\", roles = [\"approve\"] }}]\n{extra}",
        dir.path().join("data").display(),
        common::free_port(),
        dir.path().join("audit.jsonl").display(),
        hash(SUBMIT),
        hash(APPROVE),
    );
    let config = Config::from_toml(&text).expect("config");
    let store = Arc::new(Store::open(&config.serve.data_dir, &config.store).expect("store"));
    let audit = Arc::new(mugai::audit::AuditLog::open(&config.audit, &config.serve.data_dir).expect("audit"));
    let pipeline = Arc::new(Pipeline::new(config, store, audit));
    Api {
        state: AppState::new(pipeline),
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_string()
    }
}

async fn call(api: &Api, request: Request<Body>) -> Answer {
    let response = router(api.state.clone()).oneshot(request).await.expect("infallible");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    Answer { status, headers, body }
}

fn post(key: Option<&str>, name: &str, body: Vec<u8>) -> Request<Body> {
    let mut r = Request::post("/v1/sanitize").header("content-disposition", format!("attachment; filename=\"{name}\""));
    if let Some(k) = key {
        r = r.header("authorization", format!("Bearer {k}"));
    }
    r.body(Body::from(body)).expect("request")
}

fn get(path: &str, key: Option<&str>) -> Request<Body> {
    let mut r = Request::get(path);
    if let Some(k) = key {
        r = r.header("authorization", format!("Bearer {k}"));
    }
    r.body(Body::empty()).expect("request")
}

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(common::fixtures_dir().join(path)).expect("fixture")
}

#[tokio::test]
async fn sanitize_answers_the_clean_file_and_keeps_the_report() {
    let api = api("");
    let input = fixture("pdf/openaction_js.pdf");
    let a = call(&api, post(Some(SUBMIT), "見積.pdf", input.clone())).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/pdf");
    assert_eq!(a.header("x-mugai-outcome"), "disarmed");
    assert!(a
        .header("content-disposition")
        .contains("filename*=UTF-8''%E8%A6%8B%E7%A9%8D.pdf"));
    assert_eq!(a.header("x-content-type-options"), "nosniff");
    // The same bytes the engine makes (the CLI runs the same call).
    let expected = api
        .state
        .pipeline
        .current()
        .engine
        .run(&input, Some("見積.pdf"))
        .output
        .expect("clean");
    assert_eq!(a.body, expected);
    assert_eq!(a.header("x-mugai-sha256"), mugai::report::hex(&Sha256::digest(&a.body)));
    assert!(!String::from_utf8_lossy(&a.body).contains("/OpenAction"));
    let id = a.header("x-mugai-report-id").to_string();
    let r = call(&api, get(&format!("/v1/reports/{id}"), Some(SUBMIT))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["outcome"], "disarmed");
    assert_eq!(r.json()["file_name"], "見積.pdf");
    // Metrics counted it.
    let m = call(&api, get("/metrics", None)).await;
    let text = String::from_utf8_lossy(&m.body);
    assert!(
        text.contains("mugai_files_total{kind=\"pdf\",outcome=\"disarmed\"} 1"),
        "{text}"
    );
    assert!(text.contains("mugai_findings_total{type="), "{text}");
}

#[tokio::test]
async fn multipart_upload_and_broken_bodies() {
    let api = api("");
    let pdf = fixture("pdf/clean.pdf");
    let mut body = b"--B0undary\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.pdf\"\r\n\
                     Content-Type: application/pdf\r\n\r\n"
        .to_vec();
    body.extend_from_slice(&pdf);
    body.extend_from_slice(b"\r\n--B0undary--\r\n");
    let request = |body: Vec<u8>| {
        Request::post("/v1/sanitize")
            .header("authorization", format!("Bearer {SUBMIT}"))
            .header("content-type", "multipart/form-data; boundary=B0undary")
            .body(Body::from(body))
            .expect("request")
    };
    let a = call(&api, request(body.clone())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", String::from_utf8_lossy(&a.body));
    assert_eq!(a.header("x-mugai-outcome"), "clean");
    // The report names the file's digest, not the whole form body's.
    assert_eq!(reported_input(&api, &a).await, (sha(&pdf), pdf.len() as u64));
    let cut = body[..body.len() - 10].to_vec();
    let a = call(&api, request(cut)).await;
    assert_eq!((a.status, a.error()), (StatusCode::BAD_REQUEST, "bad_multipart".into()));
    let a = call(&api, post(Some(SUBMIT), "x.pdf", Vec::new())).await;
    assert_eq!((a.status, a.error()), (StatusCode::BAD_REQUEST, "empty".into()));
}

#[tokio::test]
async fn auth_is_required_and_roles_are_checked() {
    let api = api("");
    let pdf = fixture("pdf/clean.pdf");
    let a = call(&api, post(None, "a.pdf", pdf.clone())).await;
    assert_eq!((a.status, a.error()), (StatusCode::UNAUTHORIZED, "unauthorized".into()));
    assert_eq!(a.header("www-authenticate"), "Bearer");
    let a = call(&api, post(Some("mk_wrong"), "a.pdf", pdf.clone())).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = call(&api, post(Some(APPROVE), "a.pdf", pdf)).await;
    assert_eq!((a.status, a.error()), (StatusCode::FORBIDDEN, "forbidden".into()));
    let a = call(&api, get(&format!("/v1/reports/{}", "0".repeat(32)), None)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn refused_oversize_unknown_and_saturated() {
    let api = api("max_body_bytes = 1000\nmax_queued = 0\n");
    let a = call(&api, post(Some(SUBMIT), "big.bin", vec![b'x'; 5000])).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
    let a = call(&api, get(&format!("/v1/reports/{}", "0".repeat(32)), Some(SUBMIT))).await;
    assert_eq!((a.status, a.error()), (StatusCode::NOT_FOUND, "unknown_report".into()));
    let a = call(&api, get("/v1/reports/..%2Fetc", Some(SUBMIT))).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    let a = call(&api, get("/nowhere", None)).await;
    assert_eq!((a.status, a.error()), (StatusCode::NOT_FOUND, "not_found".into()));
    // Every worker taken and no queue: 503 with Retry-After.
    let workers = api.state.pipeline.workers();
    let held: Vec<_> = std::iter::from_fn(|| workers.try_acquire().ok()).collect();
    assert!(!held.is_empty());
    let a = call(&api, post(Some(SUBMIT), "t.txt", b"hello".to_vec())).await;
    assert_eq!((a.status, a.error()), (StatusCode::SERVICE_UNAVAILABLE, "busy".into()));
    assert_eq!(a.header("retry-after"), "1");
    drop(held);
    let a = call(&api, post(Some(SUBMIT), "t.txt", b"hello".to_vec())).await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn encrypted_pdf_is_422_with_its_reason() {
    let api = api("");
    let a = call(
        &api,
        post(Some(SUBMIT), "e.pdf", fixture("pdf/encrypted_user_password.pdf")),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let j = a.json();
    assert_eq!(j["outcome"], "blocked");
    assert_eq!(j["reason"], "encrypted");
    assert_eq!(j["report"]["outcome"], "blocked");
    let id = j["report_id"].as_str().expect("id").to_string();
    assert_eq!(
        call(&api, get(&format!("/v1/reports/{id}"), Some(SUBMIT))).await.status,
        StatusCode::OK
    );
}

fn kept_part(api: &Api, original: &[u8]) -> String {
    kept_part_with_id(api, original).0
}

/// As [`kept_part`]: the link token and the part's id.
fn kept_part_with_id(api: &Api, original: &[u8]) -> (String, String) {
    let store = &api.state.pipeline.store();
    let m = store
        .keep_message(b"From: a@b\r\n\r\nx", None, None, "a@b", &[])
        .expect("message");
    let part = store
        .keep_part(&NewPart {
            message: &m.id,
            path: "2",
            name: Some("見積.docm"),
            kind: mugai::FileKind::Docm,
            outcome: Outcome::Disarmed,
            reason: None,
            original,
            original_sha256: None,
            clean: None,
            clean_sha256: None,
            clean_name: None,
            report: "{}",
            written: None,
        })
        .expect("part");
    (store.link_for(&part), part.id)
}

#[tokio::test]
async fn originals_by_signed_link() {
    let api_with = api;
    let api = api_with("originals = \"direct\"\n");
    let token = kept_part(&api, b"the original bytes");
    let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, b"the original bytes");
    assert!(a.header("content-disposition").starts_with("attachment;"));
    // One character changed: refused.
    let mut bad = token.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    let a = call(
        &api,
        get(
            &format!("/v1/originals/{}", String::from_utf8(bad).expect("ascii")),
            None,
        ),
    )
    .await;
    assert_eq!((a.status, a.error()), (StatusCode::NOT_FOUND, "invalid_link".into()));
    // Expired: the same object signed with an expiry in the past.
    let object = mugai::store::links::LinkSigner::new(mugai::store::parse_key(LINK_KEY).expect("key"))
        .verify(&token, mugai::store::now())
        .expect("valid")
        .object;
    let old = mugai::store::links::LinkSigner::new(mugai::store::parse_key(LINK_KEY).expect("key")).sign(object, 1);
    let a = call(&api, get(&format!("/v1/originals/{old}"), None)).await;
    assert_eq!((a.status, a.error()), (StatusCode::GONE, "expired".into()));

    // The default policy releases nothing without approval.
    let held = api_with("");
    let token = kept_part(&held, b"held back");
    let a = call(&held, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!((a.status, a.error()), (StatusCode::FORBIDDEN, "not_released".into()));
}

#[tokio::test]
async fn health_readiness_and_the_openapi_contract() {
    let api = api("");
    let a = call(&api, get("/healthz", None)).await;
    assert_eq!((a.status, a.body.as_slice()), (StatusCode::OK, &b"ok\n"[..]));
    // Nothing listens on the next hop's port: not ready, and it says why.
    let a = call(&api, get("/readyz", None)).await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(a.json(), serde_json::json!({ "store": true, "next_hop": false }));
    let hop = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = hop.local_addr().expect("addr").port();
    let api2 = {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = Config::from_toml(&format!(
            "[serve]\ndata_dir = \"{}\"\nnext_hop = \"127.0.0.1:{port}\"\n[audit]\nlog = \"-\"\n",
            dir.path().display()
        ))
        .expect("config");
        let store = Arc::new(Store::open(&config.serve.data_dir, &config.store).expect("store"));
        let audit = Arc::new(mugai::audit::AuditLog::open(&config.audit, &config.serve.data_dir).expect("audit"));
        Api {
            state: AppState::new(Arc::new(Pipeline::new(config, store, audit))),
            _dir: dir,
        }
    };
    assert_eq!(call(&api2, get("/readyz", None)).await.status, StatusCode::OK);

    // The document served is the one in the code, and it matches the router both ways.
    let a = call(&api, get("/openapi.json", None)).await;
    assert_eq!(a.json(), spec());
    let spec_paths: std::collections::BTreeSet<String> =
        spec()["paths"].as_object().expect("paths").keys().cloned().collect();
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/ingress/http/mod.rs")).expect("source");
    let routed: std::collections::BTreeSet<String> = source
        .match_indices(".route(\"")
        .map(|(i, m)| {
            let rest = &source[i + m.len()..];
            rest[..rest.find('"').expect("closing quote")].to_string()
        })
        .collect();
    assert!(!routed.is_empty());
    assert_eq!(
        routed, spec_paths,
        "every route is documented and every documented path routed"
    );
    // Each documented path is served by its route, not the fallback.
    for path in &spec_paths {
        let concrete = path.replace("{id}", &"0".repeat(32)).replace("{token}", "x");
        let a = call(&api, get(&concrete, Some(SUBMIT))).await;
        let fallback = a.status == StatusCode::NOT_FOUND && a.body.windows(9).any(|w| w == b"not_found");
        assert!(!fallback, "{path} is not routed");
    }
}

/// The daemon on real sockets: curl uploads every engine fixture; a clean file's SHA-256 is
/// the CLI's output's for the same file, and a file the CLI refuses (exit 3) is a 422.
/// `mugai serve` on free ports with the submit key and `http_extra` in `[http]`; the daemon
/// and its HTTP port, once both listeners accept connections.
fn serve_with_key(dir: &std::path::Path, http_extra: &str) -> (std::process::Child, u16) {
    let (smtp, http) = (common::free_port(), common::free_port());
    let config = dir.join("mugai.toml");
    std::fs::write(
        &config,
        format!(
            "[serve]\nsmtp_listen = \"127.0.0.1:{smtp}\"\nhttp_listen = \"127.0.0.1:{http}\"\ndata_dir = \"{}\"\n\
             [audit]\nlog = \"{}\"\n[http]\n{http_extra}api_keys = [{{ name = \"fx\", sha256 = \"{}\", roles = [\"submit\"] }}]\n",
            dir.join("data").display(),
            dir.join("audit.jsonl").display(),
            hash(SUBMIT)
        ),
    )
    .expect("config");
    let daemon = common::spawn_serve(&config, smtp, std::time::Duration::from_secs(20));
    common::wait_listening(http, "mugai HTTP", std::time::Duration::from_secs(20));
    (daemon, http)
}

#[test]
fn curl_against_the_daemon_matches_the_cli_for_every_fixture() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut daemon, http) = serve_with_key(dir.path(), "");
    let mut compared = 0;
    let mut refused = 0;
    for sub in ["pdf", "ooxml", "ole", "rtf", "zip", "image", "text"] {
        let mut files: Vec<_> = std::fs::read_dir(common::fixtures_dir().join(sub))
            .expect("fixtures")
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        for file in files {
            let name = file.file_name().expect("name").to_string_lossy().to_string();
            let cli_out = dir.path().join(format!("cli-{name}"));
            let cli = std::process::Command::new(env!("CARGO_BIN_EXE_mugai"))
                .args([
                    "sanitize",
                    file.to_str().expect("path"),
                    "-o",
                    cli_out.to_str().expect("path"),
                ])
                .output()
                .expect("cli");
            let served = dir.path().join(format!("http-{name}"));
            let curl = std::process::Command::new("curl")
                .args(["-sS", "-o", served.to_str().expect("path"), "-w", "%{http_code}"])
                .args(["-H", &format!("Authorization: Bearer {SUBMIT}")])
                .args(["-H", &format!("Content-Disposition: attachment; filename=\"{name}\"")])
                .arg("--data-binary")
                .arg(format!("@{}", file.display()))
                .arg(format!("http://127.0.0.1:{http}/v1/sanitize"))
                .output()
                .expect("curl");
            let code = String::from_utf8_lossy(&curl.stdout).to_string();
            match cli.status.code() {
                Some(0) => {
                    assert_eq!(code, "200", "{name}");
                    let a = Sha256::digest(std::fs::read(&cli_out).expect("cli output"));
                    let b = Sha256::digest(std::fs::read(&served).expect("served output"));
                    assert_eq!(a, b, "{name}: the served file differs from the CLI's");
                    compared += 1;
                }
                Some(3) => {
                    assert_eq!(code, "422", "{name}");
                    refused += 1;
                }
                other => panic!("{name}: CLI exit {other:?}"),
            }
        }
    }
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert!(compared >= 40 && refused >= 3, "compared {compared}, refused {refused}");
}

/// The OpenAPI document validates under an independent validator (openapi-spec-validator,
/// installed by tests/run.sh), and a broken copy of it does not (the judge can say no).
#[test]
fn the_openapi_document_validates() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("openapi.json");
    std::fs::write(&good, serde_json::to_vec_pretty(&spec()).expect("json")).expect("write");
    // Required like the other judges (qpdf, olevba, ...): tests/run.sh installs it.
    let out = std::process::Command::new("openapi-spec-validator")
        .arg(&good)
        .output()
        .expect("openapi-spec-validator (tests/run.sh installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut broken = spec();
    broken["paths"]["/healthz"]["get"]["responses"] = serde_json::json!("none");
    let bad = dir.path().join("broken.json");
    std::fs::write(&bad, serde_json::to_vec(&broken).expect("json")).expect("write");
    let out = std::process::Command::new("openapi-spec-validator")
        .arg(&bad)
        .output()
        .expect("validator");
    assert!(!out.status.success(), "the validator accepted a broken document");
}

/// A file run through the engine and kept as a mail part would be; its link token and id.
fn kept_sanitized(api: &Api, fixture_path: &str, name: &str) -> (String, String) {
    kept_sanitized_to(api, fixture_path, name, &[])
}

/// As [`kept_sanitized`], in a mail to `recipients`.
fn kept_sanitized_to(api: &Api, fixture_path: &str, name: &str, recipients: &[String]) -> (String, String) {
    let current = api.state.pipeline.current();
    let input = fixture(fixture_path);
    let processed = current.engine.run(&input, Some(name));
    let store = &api.state.pipeline.store();
    let m = store
        .keep_message(b"From: a@b\r\n\r\nx", None, None, "a@b", recipients)
        .expect("message");
    let report = processed.report.to_json();
    let clean_name = processed.report.output.as_ref().and_then(|o| o.name.clone());
    let part = store
        .keep_part(&NewPart {
            message: &m.id,
            path: "2",
            name: Some(name),
            kind: processed.report.detected_kind,
            outcome: processed.report.outcome,
            reason: processed.report.reason.as_deref(),
            original: &input,
            original_sha256: None,
            clean: processed.output.as_deref(),
            clean_sha256: None,
            clean_name: clean_name.as_deref(),
            report: &report,
            written: None,
        })
        .expect("part");
    (store.link_for(&part), part.id)
}

fn with_headers(mut r: Request<Body>, headers: &[(&str, &str)]) -> Request<Body> {
    for (k, v) in headers {
        r.headers_mut().insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
            axum::http::HeaderValue::from_str(v).expect("value"),
        );
    }
    r
}

fn form(path: &str, body: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let r = Request::post(path)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .expect("request");
    with_headers(r, headers)
}

fn api_post(path: &str, key: Option<&str>) -> Request<Body> {
    let mut r = Request::post(path);
    if let Some(k) = key {
        r = r.header("authorization", format!("Bearer {k}"));
    }
    r.body(Body::empty()).expect("request")
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The value a `Set-Cookie` gives `name`.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| {
                v.split(';')
                    .next()?
                    .strip_prefix(&format!("{name}="))
                    .map(str::to_string)
            })
    }
}

const CSRF: &str = "0123456789abcdef0123456789abcdef";
/// A request's requester and reason, as the recipient page's form sends them (URL-encoded:
/// kakari@city.example.lg.jp, 「監査のため」).
const ASKED: &str = "requester=kakari%40city.example.lg.jp&reason=%E7%9B%A3%E6%9F%BB%E3%81%AE%E3%81%9F%E3%82%81";

#[tokio::test]
async fn jobs_run_in_the_background_and_keep_their_results() {
    let api = api("");
    let input = fixture("pdf/openaction_js.pdf");
    let mut r = post(Some(SUBMIT), "大きい.pdf", input.clone());
    *r.uri_mut() = "/v1/jobs".parse().expect("uri");
    let a = call(&api, r).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    let id = a.json()["id"].as_str().expect("id").to_string();
    assert_eq!(a.header("location"), format!("/v1/jobs/{id}"));
    let mut status = serde_json::Value::Null;
    for _ in 0..200 {
        status = call(&api, get(&format!("/v1/jobs/{id}"), Some(SUBMIT))).await.json();
        if status["status"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(status["status"], "done", "{status}");
    assert_eq!(status["outcome"], "disarmed");
    assert_eq!(status["report"]["detected_kind"], "pdf");
    assert_eq!(status["result"], format!("/v1/jobs/{id}/result"));
    let a = call(&api, get(&format!("/v1/jobs/{id}/result"), Some(SUBMIT))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "application/pdf");
    let expected = api
        .state
        .pipeline
        .current()
        .engine
        .run(&input, Some("大きい.pdf"))
        .output
        .expect("clean");
    assert_eq!(a.body, expected);

    // Errors: no key, wrong role, unknown id.
    assert_eq!(
        call(&api, get(&format!("/v1/jobs/{id}"), None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&api, get(&format!("/v1/jobs/{id}"), Some(APPROVE))).await.status,
        StatusCode::FORBIDDEN
    );
    let a = call(&api, get(&format!("/v1/jobs/{}", "0".repeat(32)), Some(SUBMIT))).await;
    assert_eq!((a.status, a.error()), (StatusCode::NOT_FOUND, "unknown_job".into()));

    // A job accepted by a previous process (row and input stored, never run) runs at resume;
    // until then its result is 409, and a refused file's result is 422.
    let store = &api.state.pipeline.store();
    let left = store
        .submit_job(b"MZ\x90\x00 not a document", Some("tool.exe"), None)
        .expect("job");
    let a = call(&api, get(&format!("/v1/jobs/{}/result", left.id), Some(SUBMIT))).await;
    assert_eq!((a.status, a.error()), (StatusCode::CONFLICT, "not_ready".into()));
    api.state.resume();
    let mut done = serde_json::Value::Null;
    for _ in 0..200 {
        done = call(&api, get(&format!("/v1/jobs/{}", left.id), Some(SUBMIT)))
            .await
            .json();
        if done["status"] == "done" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(done["outcome"], "blocked", "{done}");
    let a = call(&api, get(&format!("/v1/jobs/{}/result", left.id), Some(SUBMIT))).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::UNPROCESSABLE_ENTITY, "refused".into())
    );
}

#[tokio::test]
async fn the_recipient_page_requests_and_an_approver_releases_the_original() {
    let api = api("");
    let (token, id) = kept_sanitized(&api, "ooxml/macro.docm", "報告書.docm");
    let page = format!("/o/{token}");

    // Japanese by default, with what was removed and the request form.
    let a = call(&api, get(&page, None)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.header("content-type"), "text/html; charset=utf-8");
    let html = a.text();
    assert!(html.contains("<html lang=\"ja\">"), "{html}");
    assert!(html.contains("報告書.docm") && html.contains("マクロ"), "{html}");
    assert!(html.contains("原本の開示を申請する"));
    assert!(!html.contains("<script"));
    assert!(a.header("content-security-policy").contains("style-src 'sha256-"));
    assert!(a.header("content-security-policy").contains("form-action 'self'"));
    let csrf = a.cookie("mugai_csrf").expect("a CSRF cookie is set");
    assert!(a.header("set-cookie").contains("SameSite=Strict"));
    // English when the browser prefers it; escaping of names.
    let a = call(
        &api,
        with_headers(get(&page, None), &[("accept-language", "en-GB,en;q=0.9,ja;q=0.5")]),
    )
    .await;
    assert!(a.text().contains("<html lang=\"en\">") && a.text().contains("Request the original"));

    // The clean copy is offered; the original is not, yet.
    let a = call(&api, get(&format!("{page}/clean"), None)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.header("content-disposition").contains(".docx"));
    let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!((a.status, a.error()), (StatusCode::FORBIDDEN, "not_released".into()));

    // A form post without the CSRF cookie, or from another site, is refused.
    let cookie = format!("mugai_csrf={csrf}");
    let a = call(&api, form(&format!("{page}/request"), &format!("csrf={csrf}"), &[])).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = call(
        &api,
        form(
            &format!("{page}/request"),
            &format!("csrf={csrf}"),
            &[("cookie", &cookie), ("sec-fetch-site", "cross-site")],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // Without a reason, or without a plausible requester: the form again, with what to fix.
    for fields in [
        "requester=kakari%40city.example.lg.jp&reason=+",
        "requester=nobody&reason=x",
    ] {
        let a = call(
            &api,
            form(
                &format!("{page}/request"),
                &format!("csrf={csrf}&{fields}"),
                &[("cookie", &cookie)],
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{fields}");
        assert!(a.text().contains("name=\"reason\""), "{}", a.text());
    }
    let a = call(
        &api,
        form(
            &format!("{page}/request"),
            &format!("csrf={csrf}&{ASKED}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.header("location"), format!("{page}?m=requested"));
    assert!(call(&api, get(&format!("{page}?m=requested"), None))
        .await
        .text()
        .contains("承認者の判断を待っています"));
    let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!((a.status, a.error()), (StatusCode::FORBIDDEN, "pending".into()));

    // The approval queue: only approve-role keys see it and decide.
    assert_eq!(
        call(&api, get("/v1/approvals", Some(SUBMIT))).await.status,
        StatusCode::FORBIDDEN
    );
    let list = call(&api, get("/v1/approvals", Some(APPROVE))).await.json();
    assert_eq!(list["pending"][0]["id"], id.as_str(), "{list}");
    assert_eq!(list["pending"][0]["name"], "報告書.docm");
    let approve = format!("/v1/originals/{id}/approve");
    assert_eq!(
        call(&api, api_post(&approve, None)).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        call(&api, api_post(&approve, Some(SUBMIT))).await.status,
        StatusCode::FORBIDDEN
    );
    let a = call(&api, api_post(&approve, Some(APPROVE))).await;
    assert_eq!(
        (a.status, a.json()["state"].clone()),
        (StatusCode::OK, "approved".into())
    );
    let a = call(&api, api_post(&approve, Some(APPROVE))).await;
    assert_eq!((a.status, a.error()), (StatusCode::NOT_FOUND, "no_request".into()));

    // Released: the exact original, through the API and the page.
    let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, fixture("ooxml/macro.docm"));
    assert_eq!(
        call(&api, get(&format!("{page}/original"), None)).await.body,
        fixture("ooxml/macro.docm")
    );

    // Denied: stays refused.
    let (token2, id2) = kept_sanitized(&api, "ooxml/macro.docm", "二通目.docm");
    let a = call(
        &api,
        form(
            &format!("/o/{token2}/request"),
            &format!("csrf={csrf}&{ASKED}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = call(&api, api_post(&format!("/v1/originals/{id2}/deny"), Some(APPROVE))).await;
    assert_eq!(a.status, StatusCode::OK);
    let a = call(&api, get(&format!("/v1/originals/{token2}"), None)).await;
    assert_eq!((a.status, a.error()), (StatusCode::FORBIDDEN, "denied".into()));
    let a = call(&api, get(&format!("/o/{token2}/original"), None)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.text().contains("role=\"alert\""));

    // A tampered page link is a page too, not JSON.
    let a = call(&api, get(&format!("/o/{}x", token), None)).await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert!(a.text().contains("リンクが見つかりません"));
}

#[tokio::test]
async fn the_approver_page_signs_in_with_an_approve_key_and_decides() {
    let api = api("");
    let (token, id) = kept_sanitized(&api, "ooxml/macro.docm", "承認して.docm");
    let cookie = format!("mugai_csrf={CSRF}");
    ask(&api, &token).await;

    // Not signed in: the sign-in form.
    let a = call(&api, get("/approvals", None)).await;
    assert!(a.text().contains("name=\"key\"") && !a.text().contains("承認して.docm"));
    // A wrong key, or a key without the approve role: refused, no session.
    for key in ["mk_wrong", SUBMIT] {
        let a = call(
            &api,
            form(
                "/approvals/login",
                &format!("csrf={CSRF}&key={key}"),
                &[("cookie", &cookie)],
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{key}");
        assert!(a.cookie("mugai_approver").is_none());
    }
    // Without the CSRF pair, even the right key is refused.
    let a = call(
        &api,
        form("/approvals/login", &format!("key={APPROVE}"), &[("cookie", &cookie)]),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = call(
        &api,
        form(
            "/approvals/login",
            &format!("csrf={CSRF}&key={APPROVE}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let session = a.cookie("mugai_approver").expect("session cookie");
    assert!(a.header("set-cookie").contains("HttpOnly"));
    assert!(!session.contains(APPROVE), "the cookie never carries the key");
    let both = format!("{cookie}; mugai_approver={session}");

    let a = call(&api, with_headers(get("/approvals", None), &[("cookie", &both)])).await;
    let html = a.text();
    assert!(
        html.contains("承認して.docm")
            && html.contains(&format!("/approvals/{id}/approve"))
            && html.contains("無害化しました（マクロ"),
        "{html}"
    );
    assert!(html.contains("boss"));
    // A forged session is a sign-in form again.
    let forged = format!("{cookie}; mugai_approver={}", token);
    let a = call(&api, with_headers(get("/approvals", None), &[("cookie", &forged)])).await;
    assert!(!a.text().contains("承認して.docm"));
    let a = call(
        &api,
        form(
            &format!("/approvals/{id}/approve"),
            &format!("csrf={CSRF}"),
            &[("cookie", &forged)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        call(&api, get(&format!("/v1/originals/{token}"), None)).await.status,
        StatusCode::FORBIDDEN
    );

    let a = call(
        &api,
        form(
            &format!("/approvals/{id}/approve"),
            &format!("csrf={CSRF}"),
            &[("cookie", &both)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(call(&api, get(&format!("/o/{token}"), None))
        .await
        .text()
        .contains("承認しました"));
    let a = call(&api, with_headers(get("/approvals", None), &[("cookie", &both)])).await;
    assert!(a.text().contains("承認待ちの申請はありません"));

    // Sign-out ends the session in the ledger: the same cookie, kept and sent again, is a
    // sign-in form, not a session.
    let a = call(
        &api,
        form("/approvals/logout", &format!("csrf={CSRF}"), &[("cookie", &both)]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = call(&api, with_headers(get("/approvals", None), &[("cookie", &both)])).await;
    assert!(
        a.text().contains("name=\"key\"") && !a.text().contains("boss"),
        "{}",
        a.text()
    );
}

#[tokio::test]
async fn approvers_sign_in_as_local_accounts_and_the_audit_names_them() {
    let yamada = mugai::passwords::hash("山田のパスワード").expect("hash");
    let clerk = mugai::passwords::hash("clerk-password").expect("hash");
    let api = api(&format!(
        "[portal]\nusers = [{{ name = \"yamada\", argon2 = \"{yamada}\", roles = [\"approve\"] }}, \
         {{ name = \"clerk\", argon2 = \"{clerk}\", roles = [\"admin\"] }}]\n"
    ));
    let (token, id) = kept_sanitized(&api, "ooxml/macro.docm", "申請.docm");
    let cookie = format!("mugai_csrf={CSRF}");
    ask(&api, &token).await;

    // Accounts are configured: the form asks for a name and a password, not a key.
    let a = call(&api, get("/approvals", None)).await;
    assert!(a.text().contains("name=\"user\"") && a.text().contains("name=\"password\""));
    assert!(!a.text().contains("name=\"key\""));
    let sign_in = |user: &str, password: &str| {
        form(
            "/approvals/login",
            &format!("csrf={CSRF}&user={user}&password={password}"),
            &[("cookie", &cookie)],
        )
    };
    // A wrong password, an unknown name, and the approver's key (machines' keys are not
    // people) are refused; no session.
    for (user, password) in [("yamada", "wrong"), ("nobody", "山田のパスワード"), ("", APPROVE)] {
        let a = call(&api, sign_in(user, password)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{user}");
        assert!(a.cookie("mugai_approver").is_none());
    }
    let a = call(
        &api,
        form(
            "/approvals/login",
            &format!("csrf={CSRF}&key={APPROVE}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "no key sign-in beside accounts");

    let a = call(&api, sign_in("yamada", "山田のパスワード")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    let session = a.cookie("mugai_approver").expect("session cookie");
    let both = format!("{cookie}; mugai_approver={session}");
    let a = call(&api, with_headers(get("/approvals", None), &[("cookie", &both)])).await;
    assert!(
        a.text().contains("yamada") && a.text().contains("申請.docm"),
        "{}",
        a.text()
    );
    let a = call(
        &api,
        form(
            &format!("/approvals/{id}/approve"),
            &format!("csrf={CSRF}"),
            &[("cookie", &both)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(
        call(&api, get(&format!("/v1/originals/{token}"), None)).await.status,
        StatusCode::OK
    );
    // The audit says which person approved, and who signed in or was refused.
    let audit = std::fs::read_to_string(api._dir.path().join("audit.jsonl")).expect("audit");
    let approved = audit
        .lines()
        .find(|l| l.contains("\"original.approved\""))
        .expect("an approval in the audit");
    assert!(approved.contains("approver:yamada"), "{approved}");
    assert!(audit.contains("\"approver.signed_in\"") && audit.contains("\"approver.sign_in_refused\""));

    // An admin account may approve too.
    let a = call(&api, sign_in("clerk", "clerk-password")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    // Five wrong passwords lock the account: then even the right one is refused for a while.
    for _ in 0..5 {
        assert_eq!(
            call(&api, sign_in("clerk", "guess")).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let a = call(&api, sign_in("clerk", "clerk-password")).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.text());
    assert!(a.cookie("mugai_approver").is_none());
    assert!(a.header("retry-after").parse::<u64>().is_ok_and(|s| s > 0 && s <= 900));
    assert!(a.text().contains("分間サインインできません"), "{}", a.text());
    // Another account is not affected.
    assert_eq!(
        call(&api, sign_in("yamada", "山田のパスワード")).await.status,
        StatusCode::SEE_OTHER
    );
}

/// `[portal.ldap]` and two approver groups for the test directory at `url`.
/// With StartTLS the person's entry is also looked up under `user_base` after the bind (the
/// Active Directory way), so both ways are exercised.
fn directory_config(url: &str, starttls: bool, ca: &std::path::Path) -> String {
    let suffix = common::servers::Slapd::SUFFIX;
    let user_base = if starttls {
        format!("user_base = \"ou=people,{suffix}\"\n")
    } else {
        String::new()
    };
    format!(
        "[portal.ldap]\nurl = \"{url}\"\nstarttls = {starttls}\nca_file = \"{}\"\n\
         user_dn = \"uid={{user}},ou=people,{suffix}\"\ngroup_base = \"ou=groups,{suffix}\"\n\
         {user_base}admin_group = \"cn=mugai-admins,ou=groups,{suffix}\"\ntimeout_secs = 5\n\
         [[portal.approver_groups]]\nname = \"総務課\"\nrecipients = [\"*@soumu.city.example.lg.jp\"]\n\
         ldap_group = \"cn=soumu-approvers,ou=groups,{suffix}\"\n\
         [[portal.approver_groups]]\nname = \"企画課\"\nrecipients = [\"*@kikaku.city.example.lg.jp\"]\n\
         ldap_group = \"cn=kikaku-approvers,ou=groups,{suffix}\"\n",
        ca.display()
    )
}

/// Sign in on the approver page: the answer and, when signed in, the cookie header to use.
async fn approver_sign_in(api: &Api, user: &str, password: &str) -> (Answer, Option<String>) {
    let cookie = format!("mugai_csrf={CSRF}");
    let a = call(
        api,
        form(
            "/approvals/login",
            &format!("csrf={CSRF}&user={user}&password={password}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    let session = a
        .cookie("mugai_approver")
        .map(|s| format!("{cookie}; mugai_approver={s}"));
    (a, session)
}

/// A request for the original of a part, with the usual requester and reason ([`ASKED`]).
async fn ask(api: &Api, token: &str) {
    let cookie = format!("mugai_csrf={CSRF}");
    let a = call(
        api,
        form(
            &format!("/o/{token}/request"),
            &format!("csrf={CSRF}&{ASKED}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
}

/// A request for the original of a part by `requester` (as the recipient's page makes it).
async fn request_original(api: &Api, token: &str, requester: &str) {
    let cookie = format!("mugai_csrf={CSRF}");
    let body = format!(
        "csrf={CSRF}&requester={}&reason=%E7%A2%BA%E8%AA%8D",
        requester.replace('@', "%40")
    );
    let a = call(api, form(&format!("/o/{token}/request"), &body, &[("cookie", &cookie)])).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
}

#[tokio::test]
async fn directory_approvers_see_and_decide_only_their_sections_requests() {
    let Some(slapd) = common::servers::Slapd::start(&common::servers::Slapd::city_directory()) else {
        return;
    };
    for (url, starttls) in [
        (format!("ldaps://127.0.0.1:{}", slapd.ldaps_port), false),
        (format!("ldap://127.0.0.1:{}", slapd.ldap_port), true),
    ] {
        let api = api(&directory_config(&url, starttls, &slapd.ca));
        let soumu = ["kaikei@soumu.city.example.lg.jp".to_string()];
        let kikaku = ["plan@kikaku.city.example.lg.jp".to_string()];
        let (token_s, id_s) = kept_sanitized_to(&api, "ooxml/macro.docm", "総務の資料.docm", &soumu);
        let (token_k, id_k) = kept_sanitized_to(&api, "ooxml/macro.docm", "企画の資料.docm", &kikaku);
        request_original(&api, &token_s, &soumu[0]).await;
        request_original(&api, &token_k, &kikaku[0]).await;

        // Wrong password, a person in no group, an unknown name, an empty password (an
        // "unauthenticated bind" slapd would accept) and a filter injection: all refused.
        for (user, password) in [
            ("yamada", "wrong"),
            ("tanaka", "tanaka-password"),
            ("nobody", "x"),
            ("yamada", ""),
            ("*)(uid=*", "x"),
        ] {
            let (a, session) = approver_sign_in(&api, user, password).await;
            assert_eq!(
                a.status,
                StatusCode::UNAUTHORIZED,
                "{url} {user}: {}
{}",
                a.text(),
                slapd.log()
            );
            assert!(session.is_none());
        }

        // 総務課's approver sees and decides only 総務課's request; 企画課's is refused.
        let (a, yamada) = approver_sign_in(&api, "yamada", "yamada-password").await;
        assert_eq!(
            a.status,
            StatusCode::SEE_OTHER,
            "{url}: {}
{}",
            a.text(),
            slapd.log()
        );
        let yamada = yamada.expect("a session");
        let page = call(&api, with_headers(get("/approvals", None), &[("cookie", &yamada)]))
            .await
            .text();
        assert!(
            page.contains("総務の資料.docm") && !page.contains("企画の資料.docm"),
            "{page}"
        );
        // What the approver judges by: the mail's sender and recipients, who asked and why.
        for shown in ["a@b", "kaikei@soumu.city.example.lg.jp", "確認", "無害化しました"] {
            assert!(page.contains(shown), "{shown} on the approver's page:\n{page}");
        }
        let other = call(
            &api,
            form(
                &format!("/approvals/{id_k}/approve"),
                &format!("csrf={CSRF}"),
                &[("cookie", &yamada)],
            ),
        )
        .await;
        assert_eq!(other.status, StatusCode::NOT_FOUND, "another section's request");
        let mine = call(
            &api,
            form(
                &format!("/approvals/{id_s}/approve"),
                // 「確認しました」, for the requester.
                &format!("csrf={CSRF}&comment=%E7%A2%BA%E8%AA%8D%E3%81%97%E3%81%BE%E3%81%97%E3%81%9F"),
                &[("cookie", &yamada)],
            ),
        )
        .await;
        assert_eq!(mine.status, StatusCode::SEE_OTHER);
        assert_eq!(
            call(&api, get(&format!("/v1/originals/{token_s}"), None)).await.status,
            StatusCode::OK
        );
        assert_eq!(
            call(&api, get(&format!("/v1/originals/{token_k}"), None)).await.status,
            StatusCode::FORBIDDEN,
            "企画課's original waits for 企画課"
        );
        // 企画課's approver sees 企画課's; the administrator sees everything left.
        let (_, sato) = approver_sign_in(&api, "sato", "sato-password").await;
        let page = call(
            &api,
            with_headers(get("/approvals", None), &[("cookie", &sato.expect("sato"))]),
        )
        .await
        .text();
        assert!(
            page.contains("企画の資料.docm") && !page.contains("総務の資料.docm"),
            "{page}"
        );
        let (_, admin) = approver_sign_in(&api, "admin1", "admin1-password").await;
        let page = call(
            &api,
            with_headers(get("/approvals", None), &[("cookie", &admin.expect("admin"))]),
        )
        .await
        .text();
        assert!(page.contains("企画の資料.docm"), "{page}");

        // The audit names the person who approved.
        let audit = std::fs::read_to_string(api._dir.path().join("audit.jsonl")).expect("audit");
        let approved = audit
            .lines()
            .find(|l| l.contains("\"original.approved\""))
            .expect("an approval in the audit");
        assert!(approved.contains("approver:yamada"), "{approved}");
        assert!(
            approved.contains("確認しました"),
            "the comment is on record: {approved}"
        );
        let requested = audit
            .lines()
            .find(|l| l.contains("\"original.requested\""))
            .expect("a request in the audit");
        assert!(
            requested.contains("kaikei@soumu.city.example.lg.jp") && requested.contains("確認"),
            "{requested}"
        );
    }
}

#[tokio::test]
async fn a_directory_with_an_untrusted_certificate_or_down_is_refused_closed() {
    let Some(slapd) = common::servers::Slapd::start(&common::servers::Slapd::city_directory()) else {
        return;
    };
    // Another CA than the one the directory's certificate is from: no bind, no password sent.
    let other = tempfile::tempdir().expect("tempdir");
    let other_ca = common::certificates(other.path()).ca;
    let untrusted = api(&directory_config(
        &format!("ldaps://127.0.0.1:{}", slapd.ldaps_port),
        false,
        &other_ca,
    ));
    let (a, session) = approver_sign_in(&untrusted, "yamada", "yamada-password").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text());
    assert!(session.is_none());
    assert!(a.text().contains("認証サーバーに接続できません"));
    // A directory that is down: the same, within the timeout.
    let port = common::free_port();
    let down = api(&directory_config(
        &format!("ldaps://127.0.0.1:{port}"),
        false,
        &slapd.ca,
    ));
    let (a, _) = approver_sign_in(&down, "yamada", "yamada-password").await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text());
}

/// Wait (without blocking the test's runtime, where the notifier runs) until `sink` holds
/// `n` messages, up to 60 s.
async fn wait_for_mail(sink: &common::servers::SmtpSink, n: usize) -> Vec<std::path::PathBuf> {
    for _ in 0..600 {
        let got = sink.messages();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    sink.messages()
}

#[tokio::test]
async fn approvers_hear_of_requests_and_requesters_of_decisions_by_mail() {
    let port = common::free_port();
    // The relay is down at first: the first note is retried, audited, and the request stands.
    let api = api(&format!(
        "[notify]\nrelay = \"127.0.0.1:{port}\"\nfrom = \"mugai@city.example.lg.jp\"\n\
         portal_url = \"https://mugai.city.example.lg.jp\"\napprovers = [\"kacho@city.example.lg.jp\"]\n\
         retries = 6\nretry_interval_secs = 1\n"
    ));
    let (token, id) = kept_sanitized(&api, "ooxml/macro.docm", "予算書.docm");
    let (token2, id2) = kept_sanitized(&api, "ooxml/macro.docm", "議事録.docm");
    let cookie = format!("mugai_csrf={CSRF}");
    let a = call(
        &api,
        form(
            &format!("/o/{token}/request"),
            &format!("csrf={CSRF}&{ASKED}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "the request does not wait for mail");
    let audit_path = api._dir.path().join("audit.jsonl");
    let audit = || std::fs::read_to_string(&audit_path).unwrap_or_default();
    for _ in 0..100 {
        if audit().contains("notification.failed") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(audit().contains("\"notification.failed\""), "{}", audit());
    let Some(sink) = common::servers::SmtpSink::start(port) else {
        return;
    };
    let mail = wait_for_mail(&sink, 1).await;
    assert_eq!(mail.len(), 1, "the retried note arrived: {}", audit());
    let (to, subject, body) = common::mail_headers_and_text(&mail[0]);
    assert_eq!(to, "kacho@city.example.lg.jp");
    assert!(
        subject.contains("原本の開示申請") && subject.contains("予算書.docm"),
        "{subject}"
    );
    for expected in [
        "kakari@city.example.lg.jp",
        "監査のため",
        "https://mugai.city.example.lg.jp/approvals",
    ] {
        assert!(body.contains(expected), "{expected} in:\n{body}");
    }

    // Approved with a comment, and declined: the requester hears of each, with the link.
    let (_, session) = {
        let a = call(
            &api,
            form(
                "/approvals/login",
                &format!("csrf={CSRF}&key={APPROVE}"),
                &[("cookie", &cookie)],
            ),
        )
        .await;
        // The pages are on https (portal_url): the session cookie is __Host- and Secure.
        let s = a.cookie("__Host-mugai_approver").expect("session");
        (a, format!("{cookie}; __Host-mugai_approver={s}"))
    };
    let a = call(
        &api,
        form(
            &format!("/approvals/{id}/approve"),
            // 「内容を確認しました」
            &format!(
                "csrf={CSRF}&comment=%E5%86%85%E5%AE%B9%E3%82%92%E7%A2%BA%E8%AA%8D%E3%81%97%E3%81%BE%E3%81%97%E3%81%9F"
            ),
            &[("cookie", &session)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let mail = wait_for_mail(&sink, 2).await;
    assert_eq!(mail.len(), 2, "{}", audit());
    let (to, subject, body) = common::mail_headers_and_text(&mail[1]);
    assert_eq!(to, "kakari@city.example.lg.jp");
    assert!(subject.contains("承認") && subject.contains("予算書.docm"), "{subject}");
    assert!(body.contains("内容を確認しました") && body.contains("boss"), "{body}");
    assert!(
        body.contains(&format!("https://mugai.city.example.lg.jp/o/{token}")),
        "{body}"
    );

    ask(&api, &token2).await;
    let a = call(
        &api,
        form(
            &format!("/approvals/{id2}/deny"),
            &format!("csrf={CSRF}"),
            &[("cookie", &session)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let mail = wait_for_mail(&sink, 4).await;
    assert_eq!(mail.len(), 4, "{}", audit());
    let subjects: Vec<String> = mail.iter().map(|m| common::mail_headers_and_text(m).1).collect();
    assert!(
        subjects.iter().any(|s| s.contains("却下") && s.contains("議事録.docm")),
        "{subjects:?}"
    );
    // Every note's end is in the audit trail.
    assert_eq!(audit().matches("\"notification.sent\"").count(), 4, "{}", audit());
}

#[tokio::test]
async fn the_admin_console_finds_traces_and_takes_out_an_original_with_a_reason() {
    let yamada = mugai::passwords::hash("山田のパスワード").expect("hash");
    let clerk = mugai::passwords::hash("clerk-password").expect("hash");
    let api = api(&format!(
        "[portal]\nusers = [{{ name = \"yamada\", argon2 = \"{yamada}\", roles = [\"approve\"] }}, \
         {{ name = \"clerk\", argon2 = \"{clerk}\", roles = [\"admin\"] }}]\n"
    ));
    // A message as the mail path keeps it, and its trace line.
    let raw = "From: taro@example.jp\r\nSubject: =?UTF-8?B?5LqI566X44Gu5Lu2?=\r\n\r\nbody\r\n";
    let store = api.state.pipeline.store().clone();
    let subject = mugai::mail::parse::subject(raw.as_bytes());
    assert_eq!(subject.as_deref(), Some("予算の件"), "the Subject decoded");
    let m = store
        .keep_message(
            raw.as_bytes(),
            Some("m1@example.jp"),
            subject.as_deref(),
            "taro@example.jp",
            &["kaikei@soumu.city.example.lg.jp".to_string()],
        )
        .expect("message");
    store.finish_message(&m.id, Outcome::Disarmed, "{}").expect("finish");
    let (other_token, other) = kept_sanitized(&api, "ooxml/macro.docm", "別件.docm");
    let (revoked_token, revoked) = kept_sanitized(&api, "ooxml/macro.docm", "取り消し.docm");
    api.state.pipeline.audit().note(
        &mugai::audit::Origin::new("smtp", None),
        mugai::audit::Event::MailDelivered {
            message: m.id.clone(),
            outcome: "disarmed",
            reply: "250 ok".into(),
        },
    );

    // Not signed in: the sign-in page; an approver who is not an administrator: 403.
    assert_eq!(call(&api, get("/admin", None)).await.status, StatusCode::SEE_OTHER);
    let (_, approver) = approver_sign_in(&api, "yamada", "山田のパスワード").await;
    let a = call(
        &api,
        with_headers(get("/admin", None), &[("cookie", &approver.expect("yamada"))]),
    )
    .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);

    let (_, admin) = approver_sign_in(&api, "clerk", "clerk-password").await;
    let admin = admin.expect("clerk");
    let look = |path: String| with_headers(get(&path, None), &[("cookie", &admin)]);
    // Search by subject (encoded in the mail, decoded when kept) and by sender.
    let page = call(&api, look("/admin?subject=%E4%BA%88%E7%AE%97".into()))
        .await
        .text();
    assert!(
        page.contains("予算の件") && page.contains(&format!("/admin/messages/{}", m.id)),
        "{page}"
    );
    assert!(!page.contains("別件"), "only what matches: {page}");
    let page = call(&api, look("/admin?sender=TARO&outcome=disarmed".into()))
        .await
        .text();
    assert!(page.contains("予算の件"), "{page}");
    let page = call(&api, look("/admin?sender=nobody".into())).await.text();
    assert!(!page.contains("予算の件"), "{page}");

    // The message: its trace from the audit file, and the original taken out with a reason.
    let page = call(&api, look(format!("/admin/messages/{}", m.id))).await.text();
    assert!(page.contains("mail.delivered") && page.contains("250 ok"), "{page}");
    let fetch = |reason: &str| {
        form(
            &format!("/admin/messages/{}/original", m.id),
            &format!("csrf={CSRF}&reason={reason}"),
            &[("cookie", &admin)],
        )
    };
    assert_eq!(
        call(&api, fetch("+")).await.status,
        StatusCode::BAD_REQUEST,
        "a reason is required"
    );
    let a = call(&api, fetch("%E8%AA%BF%E6%9F%BB")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, raw.as_bytes(), "the original, byte for byte");
    assert!(a.header("content-disposition").contains("original.eml"));
    let audit = std::fs::read_to_string(api._dir.path().join("audit.jsonl")).expect("audit");
    let fetched = audit
        .lines()
        .find(|l| l.contains("\"original.fetched\""))
        .expect("the fetch is audited");
    assert!(fetched.contains("admin:clerk") && fetched.contains("調査"), "{fetched}");

    // Statistics: the chart, the table, the CSV; the configuration without secrets.
    let page = call(&api, look("/admin/stats".into())).await.text();
    assert!(
        page.contains("<svg") && page.contains("<rect") && page.contains("<table>"),
        "{page}"
    );
    let csv = call(&api, look("/admin/stats.csv".into())).await;
    assert!(csv.header("content-type").starts_with("text/csv"));
    assert!(
        csv.text().starts_with("day,outcome,messages\r\n") && csv.text().contains(",disarmed,1"),
        "{}",
        csv.text()
    );
    let page = call(&api, look("/admin/config".into())).await.text();
    assert!(
        page.contains("retention") && !page.contains(&clerk) && !page.contains(LINK_KEY),
        "secrets never shown"
    );

    // A part's original released by the administrator (nobody asked), and another part's
    // link revoked: each with a reason, each in the audit.
    let act = |id: &str, verb: &str, reason: &str| {
        form(
            &format!("/admin/parts/{id}/{verb}"),
            &format!("csrf={CSRF}&reason={reason}"),
            &[("cookie", &admin)],
        )
    };
    assert_eq!(
        call(&api, get(&format!("/v1/originals/{other_token}"), None))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&api, act(&other, "release", "+")).await.status,
        StatusCode::BAD_REQUEST
    );
    // A part's own original, taken out with a reason.
    let a = call(&api, act(&other, "original", "%E7%A2%BA%E8%AA%8D")).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body, fixture("ooxml/macro.docm"), "the part's original");
    assert!(
        a.header("content-disposition").contains("docm"),
        "{}",
        a.header("content-disposition")
    );
    let a = call(&api, act(&other, "release", "%E9%83%A8%E9%95%B7%E6%8C%87%E7%A4%BA")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    assert_eq!(
        call(&api, get(&format!("/v1/originals/{other_token}"), None))
            .await
            .status,
        StatusCode::OK,
        "released"
    );
    assert_eq!(
        call(&api, get(&format!("/o/{revoked_token}"), None)).await.status,
        StatusCode::OK
    );
    let a = call(&api, act(&revoked, "revoke", "%E8%AA%A4%E9%80%81%E4%BF%A1")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    assert_eq!(
        call(&api, get(&format!("/o/{revoked_token}"), None)).await.status,
        StatusCode::NOT_FOUND,
        "the revoked link resolves no more"
    );
    assert_eq!(
        call(&api, act(&revoked, "revoke", "again")).await.status,
        StatusCode::NOT_FOUND
    );
    let audit = std::fs::read_to_string(api._dir.path().join("audit.jsonl")).expect("audit");
    let line = |event: &str| {
        audit
            .lines()
            .find(|l| l.contains(&format!("\"{event}\"")) && l.contains("admin:clerk"))
            .unwrap_or_else(|| panic!("no {event} by admin:clerk:\n{audit}"))
            .to_string()
    };
    assert!(line("original.approved").contains("部長指示"));
    assert!(line("link.revoked").contains("誤送信"));

    // The period's files by kind, findings, and requests with their wait, on the page and
    // as CSV.
    let page = call(&api, look("/admin/stats".into())).await.text();
    for shown in [
        "種類別のファイル数",
        "docm",
        "多かった検出",
        "マクロ",
        "原本の開示申請",
        "承認",
    ] {
        assert!(page.contains(shown), "{shown}:\n{page}");
    }
    let mut tables = Vec::new();
    for table in ["kinds", "findings", "approvals"] {
        tables.push(call(&api, look(format!("/admin/stats.csv?table={table}"))).await.text());
    }
    assert!(tables[0].contains("docm,2"), "two docm parts: {}", tables[0]);
    assert!(tables[1].lines().nth(1).is_some_and(|l| !l.is_empty()), "{}", tables[1]);
    assert!(tables[2].contains("approved,1,"), "{}", tables[2]);
}

#[tokio::test]
async fn behind_tls_the_session_cookie_is_secure_and_host_only() {
    let api = api("[mail]\nlink_base_url = \"https://mugai.city.example.lg.jp\"\n");
    let cookie = format!("mugai_csrf={CSRF}");
    let a = call(
        &api,
        form(
            "/approvals/login",
            &format!("csrf={CSRF}&key={APPROVE}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let set = a.header("set-cookie");
    assert!(set.starts_with("__Host-mugai_approver="), "{set}");
    assert!(
        set.contains("; Secure") && set.contains("Path=/") && !set.contains("Domain"),
        "{set}"
    );
    let session = a.cookie("__Host-mugai_approver").expect("session");
    let page = call(
        &api,
        with_headers(
            get("/approvals", None),
            &[("cookie", &format!("{cookie}; __Host-mugai_approver={session}"))],
        ),
    )
    .await
    .text();
    assert!(
        page.contains("サインアウト"),
        "signed in with the prefixed cookie: {page}"
    );
    // The unprefixed name (which a plain-HTTP page could have set) is not a session here.
    let page = call(
        &api,
        with_headers(
            get("/approvals", None),
            &[("cookie", &format!("{cookie}; mugai_approver={session}"))],
        ),
    )
    .await
    .text();
    assert!(!page.contains("サインアウト"), "{page}");
}

#[tokio::test]
async fn the_display_switch_enlarges_text_and_raises_contrast_without_script() {
    let api = api("");
    let (token, _) = kept_sanitized(&api, "ooxml/macro.docm", "資料.docm");
    let page = call(&api, get(&format!("/o/{token}"), None)).await.text();
    // Every page ends with the switch, set to come back to that very page.
    assert!(
        page.contains("action=\"/display\"") && page.contains(&format!("value=\"/o/{token}\"")),
        "{page}"
    );
    assert!(page.contains("<html lang=\"ja\">"), "no classes by default");
    let a = call(
        &api,
        get(&format!("/display?size=large&contrast=high&back=%2Fo%2F{token}"), None),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(a.header("location"), format!("/o/{token}"));
    let choice = a.cookie("mugai_display").expect("the choice is a cookie");
    let page = call(
        &api,
        with_headers(
            get(&format!("/o/{token}"), None),
            &[("cookie", &format!("mugai_display={choice}"))],
        ),
    )
    .await
    .text();
    assert!(page.contains("<html class=\"large contrast\" lang=\"ja\">"), "{page}");
    assert!(
        page.contains("<option value=\"large\" selected>"),
        "the form shows the choice"
    );
    // Never back to another site.
    let a = call(&api, get("/display?size=large&back=%2F%2Fevil.example%2F", None)).await;
    assert_eq!(a.header("location"), "/approvals");
}

#[tokio::test]
async fn kept_reports_are_signed_and_mugai_verify_checks_a_file_against_one() {
    let api = api("");
    let a = call(&api, post(Some(SUBMIT), "報告.docm", fixture("ooxml/macro.docm"))).await;
    assert_eq!(a.status, StatusCode::OK);
    let (id, clean) = (a.header("x-mugai-report-id").to_string(), a.body.clone());
    let report = call(&api, get(&format!("/v1/reports/{id}"), Some(SUBMIT))).await;
    let signed = report.json();
    assert_eq!(signed["receipt"]["alg"], "ed25519", "{signed}");
    assert_eq!(
        signed["policy_sha256"].as_str().map(str::len),
        Some(64),
        "the policy version is signed in: {signed}"
    );
    let key = call(&api, get("/v1/receipt-key", None)).await.json()["key"]
        .as_str()
        .expect("the public key")
        .to_string();
    assert_eq!(signed["receipt"]["key"], key.as_str());

    // On the LGWAN side, with the key the gateway serves: the file and its report verify; a
    // changed byte, a changed finding, another key do not.
    let dir = tempfile::tempdir().expect("tempdir");
    let verify = |report: &[u8], file: &[u8], key: &str| {
        let r = common::write_temp(dir.path(), "report.json", report);
        let f = common::write_temp(dir.path(), "clean.docx", file);
        std::process::Command::new(env!("CARGO_BIN_EXE_mugai"))
            .arg("verify")
            .arg(&r)
            .arg(&f)
            .args(["--key", key])
            .output()
            .expect("mugai verify")
    };
    let ok = verify(&report.body, &clean, &key);
    assert_eq!(ok.status.code(), Some(0), "{}", String::from_utf8_lossy(&ok.stderr));
    let mut changed = clean.clone();
    let last = changed.len() - 1;
    changed[last] ^= 1;
    assert_eq!(
        verify(&report.body, &changed, &key).status.code(),
        Some(3),
        "a changed byte"
    );
    let mut finding = signed.clone();
    finding["findings"][0]["where"] = "elsewhere".into();
    let finding = serde_json::to_vec(&finding).expect("json");
    let refused = verify(&finding, &clean, &key);
    assert_eq!(refused.status.code(), Some(3), "a changed finding");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("NOT verified"));
    let other = mugai::receipt::ReceiptSigner::from_link_key(&[9; 32]).public_hex();
    assert_eq!(
        verify(&report.body, &clean, &other).status.code(),
        Some(3),
        "another key"
    );
}

/// A callback receiver of the test's own (a real HTTP server on loopback): the first
/// `failures` requests get 500, the rest 200; each request's timestamp, signature and body
/// are kept.
async fn callback_receiver(failures: usize) -> (u16, Arc<std::sync::Mutex<Vec<(String, String, Vec<u8>)>>>) {
    type Seen = Arc<std::sync::Mutex<Vec<(String, String, Vec<u8>)>>>;
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::post(
                move |axum::extract::State(seen): axum::extract::State<Seen>,
                      headers: axum::http::HeaderMap,
                      body: axum::body::Bytes| async move {
                    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                    let mut seen = seen.lock().expect("lock");
                    seen.push((h("x-mugai-timestamp"), h("x-mugai-signature"), body.to_vec()));
                    if seen.len() <= failures {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::OK
                    }
                },
            ),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_calls_back_signed_and_a_failing_receiver_gets_the_third_try() {
    const SECRET: &str = "callback-secret-0123456789";
    let api = api(&format!(
        "callback_hosts = [\"127.0.0.1\"]\ncallback_secret = \"{SECRET}\"\n"
    ));
    let submit = |callback: &str| {
        let mut r = post(Some(SUBMIT), "報告.docm", fixture("ooxml/macro.docm"));
        *r.uri_mut() = format!("/v1/jobs?callback_url={callback}").parse().expect("uri");
        r
    };
    // A host not allowed is refused at submission, before anything is kept.
    let a = call(&api, submit("http%3A%2F%2Fevil.example%2Fhook")).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::BAD_REQUEST, "callback_not_allowed".into())
    );

    let (port, seen) = callback_receiver(2).await;
    let a = call(&api, submit(&format!("http%3A%2F%2F127.0.0.1%3A{port}%2Fhook"))).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{}", a.text());
    let id = a.json()["id"].as_str().expect("id").to_string();
    for _ in 0..300 {
        if seen.lock().expect("lock").len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3, "failed twice, accepted the third try");
    // Each try: the receiver's own check of the HMAC over timestamp, '.', body, and of the
    // timestamp's age.
    let now = mugai::store::now();
    for (timestamp, signature, body) in &seen {
        let mut mac = <hmac::Hmac<sha2::Sha256> as hmac::KeyInit>::new_from_slice(SECRET.as_bytes()).expect("key");
        hmac::Mac::update(&mut mac, format!("{timestamp}.").as_bytes());
        hmac::Mac::update(&mut mac, body);
        let expected = format!("sha256={}", mugai::report::hex(&hmac::Mac::finalize(mac).into_bytes()));
        assert_eq!(signature, &expected, "the signature holds");
        let ts: u64 = timestamp.parse().expect("a timestamp");
        assert!(now.abs_diff(ts) < 120, "fresh");
    }
    let result: serde_json::Value = serde_json::from_slice(&seen[2].2).expect("JSON");
    assert_eq!(
        (result["id"].as_str(), result["status"].as_str()),
        (Some(id.as_str()), Some("done"))
    );
    assert_eq!(result["outcome"], "disarmed");
    let clean = call(&api, get(&format!("/v1/jobs/{id}/result"), Some(SUBMIT))).await;
    assert_eq!(
        result["sha256"].as_str(),
        Some(mugai::report::hex(&<sha2::Sha256 as sha2::Digest>::digest(&clean.body)).as_str()),
        "the result's hash is the clean file's"
    );
    let audit = std::fs::read_to_string(api._dir.path().join("audit.jsonl")).expect("audit");
    assert_eq!(audit.matches("\"callback.failed\"").count(), 2, "{audit}");
    assert_eq!(audit.matches("\"callback.sent\"").count(), 1, "{audit}");
}

/// Send a password ZIP to /v1/sanitize: held, with an unlock call in the answer.
async fn held_upload(api: &Api, zip: &[u8]) -> String {
    let a = call(api, post(Some(SUBMIT), "資料.zip", zip.to_vec())).await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    let j = a.json();
    assert_eq!(
        (j["outcome"].as_str(), j["reason"].as_str()),
        (Some("held"), Some("encrypted"))
    );
    j["unlock"].as_str().expect("an unlock call").to_string()
}

#[tokio::test]
async fn held_archives_unlock_with_their_password_and_guessing_is_limited() {
    let api = api("");
    let zip = fixture("zip/zipcrypto.zip");
    let unlock = held_upload(&api, &zip).await;
    let pw = |p: &str| {
        Request::post(unlock.as_str())
            .header("content-type", "application/json")
            .body(Body::from(serde_json::json!({ "password": p }).to_string()))
            .expect("request")
    };
    for left in (0..5).rev() {
        let a = call(&api, pw("guess")).await;
        assert_eq!(
            (a.status, a.error()),
            (StatusCode::BAD_REQUEST, "wrong_password".into())
        );
        assert!(a.json()["message"]
            .as_str()
            .unwrap_or("")
            .contains(&format!("{left} attempts left")));
    }
    // Locked out, even with the right password, until the window ends.
    let a = call(&api, pw("mugai-pass")).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts".into())
    );
    assert!(a.header("retry-after").parse::<u32>().expect("Retry-After") > 0);
    // A password body is small: 100 KB is refused before it is read whole.
    let a = call(
        &api,
        Request::post(unlock.as_str())
            .body(Body::from(vec![b'a'; 100_000]))
            .expect("request"),
    )
    .await;
    assert_eq!(a.status, StatusCode::PAYLOAD_TOO_LARGE);
    // No password at all is a bad request, not an attempt.
    let a = call(
        &api,
        Request::post(unlock.as_str()).body(Body::from("{}")).expect("request"),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);

    // Another submission of the same archive: the right password opens it.
    let unlock = held_upload(&api, &zip).await;
    let token = unlock
        .trim_start_matches("/v1/held/")
        .trim_end_matches("/unlock")
        .to_string();
    let a = call(
        &api,
        Request::post(unlock.as_str())
            .header("content-type", "application/json")
            .body(Body::from(r#"{"password":"mugai-pass"}"#))
            .expect("request"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.header("content-type"), "application/zip");
    // Python's zipfile reads the result without a password, and every entry's CRC holds.
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::write_temp(dir.path(), "unlocked.zip", &a.body);
    let judged = common::judge(
        "python3",
        &[
            "-c",
            "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; \
             assert not any(i.flag_bits & 1 for i in z.infolist()); print(len(z.infolist()))",
            out.to_str().expect("path"),
        ],
    );
    assert!(judged.status.success(), "{}", String::from_utf8_lossy(&judged.stderr));
    assert!(
        String::from_utf8_lossy(&judged.stdout)
            .trim()
            .parse::<u32>()
            .expect("count")
            > 0
    );
    // The page now offers the unlocked, sanitized archive; unlocking again is a conflict.
    let page = call(&api, get(&format!("/o/{token}"), None)).await.text();
    assert!(
        !page.contains("name=\"password\"") && page.contains("/clean\" download"),
        "{page}"
    );
    assert!(
        page.contains("問題は見つかりませんでした") || page.contains("無害化しました"),
        "{page}"
    );
    assert_eq!(call(&api, get(&format!("/o/{token}/clean"), None)).await.body, a.body);
    let a = call(&api, pw("mugai-pass")).await;
    assert_eq!(
        a.status,
        StatusCode::TOO_MANY_REQUESTS,
        "the first part is still locked out"
    );
    let again = Request::post(unlock.as_str())
        .header("content-type", "application/json")
        .body(Body::from(r#"{"password":"mugai-pass"}"#))
        .expect("request");
    let a = call(&api, again).await;
    assert_eq!((a.status, a.error()), (StatusCode::CONFLICT, "not_held".into()));

    // Through the page's form: a wrong password re-renders the page with an alert.
    let unlock = held_upload(&api, &zip).await;
    let token = unlock
        .trim_start_matches("/v1/held/")
        .trim_end_matches("/unlock")
        .to_string();
    let cookie = format!("mugai_csrf={CSRF}");
    let page = call(&api, get(&format!("/o/{token}"), None)).await.text();
    assert!(page.contains("<label for=\"password\">パスワード</label>"), "{page}");
    let a = call(
        &api,
        form(
            &format!("/o/{token}/unlock"),
            &format!("csrf={CSRF}&password=nope"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.text().contains("role=\"alert\"") && a.text().contains("パスワードが違います"));
    let a = call(
        &api,
        form(
            &format!("/o/{token}/unlock"),
            &format!("csrf={CSRF}&password=mugai-pass"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(
        (a.status, a.header("location").to_string()),
        (StatusCode::SEE_OTHER, format!("/o/{token}?m=unlocked"))
    );
}

#[tokio::test]
async fn after_scan_fails_closed_without_a_scanner() {
    let problems = Config::from_toml("[http]\noriginals = \"after_scan\"\n").expect_err("needs a scanner");
    assert!(problems.to_string().contains("scan.clamd"), "{problems}");
    let api = api("originals = \"after_scan\"\n[scan]\nclamd = \"/nonexistent/clamd.sock\"\ntimeout_secs = 2\n");
    let token = kept_part(&api, b"anything");
    let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::SERVICE_UNAVAILABLE, "scan_unavailable".into())
    );
    assert!(!a.header("retry-after").is_empty());
}

/// A private clamd on a Unix socket, with a one-signature database written here (the EICAR
/// test string, as a body signature matched anywhere in a file). Nothing is downloaded.
struct Clamd {
    child: std::process::Child,
    socket: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Clamd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const EICAR: &str = r"X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";

fn start_clamd() -> Option<Clamd> {
    let clamd = ["/usr/sbin/clamd", "/usr/bin/clamd"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(clamd) = clamd else {
        assert!(
            std::env::var_os("MUGAI_REQUIRE_CLAMD").is_none(),
            "clamd is required (tests/run.sh installs clamav-daemon)"
        );
        eprintln!("skipping: clamd not installed (tests/run.sh installs clamav-daemon)");
        return None;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("db");
    std::fs::create_dir(&db).expect("db dir");
    let hex: String = EICAR.bytes().map(|b| format!("{b:02x}")).collect();
    std::fs::write(db.join("mugai-test.ndb"), format!("Mugai-Test.EICAR:0:*:{hex}\n")).expect("signature");
    let socket = dir.path().join("clamd.sock");
    let conf = dir.path().join("clamd.conf");
    std::fs::write(
        &conf,
        format!(
            "LocalSocket {}\nDatabaseDirectory {}\nTemporaryDirectory {}\nLogFile {}\nForeground yes\n",
            socket.display(),
            db.display(),
            dir.path().display(),
            dir.path().join("clamd.log").display()
        ),
    )
    .expect("conf");
    let child = std::process::Command::new(clamd)
        .arg("-c")
        .arg(&conf)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start clamd");
    let clamd = Clamd {
        child,
        socket,
        _dir: dir,
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        use std::io::{Read, Write};
        if let Ok(mut s) = std::os::unix::net::UnixStream::connect(&clamd.socket) {
            let mut answer = String::new();
            if s.write_all(b"zPING\0").is_ok() && s.read_to_string(&mut answer).is_ok() && answer.starts_with("PONG") {
                return Some(clamd);
            }
        }
        assert!(std::time::Instant::now() < deadline, "clamd did not start; see its log");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[tokio::test]
async fn after_scan_releases_a_clean_original_and_refuses_eicar() {
    let Some(clamd) = start_clamd() else { return };
    let api = api(&format!(
        "originals = \"after_scan\"\n[scan]\nclamd = \"{}\"\ntimeout_secs = 30\n",
        clamd.socket.display()
    ));
    let clean = fixture("pdf/openaction_js.pdf");
    let token = kept_part(&api, &clean);
    let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body, clean);

    // EICAR alone, and EICAR inside a ZIP (clamd looks into archives): refused.
    let mut zipped = Vec::new();
    {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zipped));
        w.start_file("readme.txt", zip::write::SimpleFileOptions::default())
            .expect("entry");
        std::io::Write::write_all(&mut w, EICAR.as_bytes()).expect("write");
        w.finish().expect("zip");
    }
    for infected in [EICAR.as_bytes().to_vec(), zipped] {
        let token = kept_part(&api, &infected);
        let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
        assert_eq!(
            (a.status, a.error()),
            (StatusCode::FORBIDDEN, "infected".into()),
            "{}",
            a.text()
        );
        assert!(a.json()["message"].as_str().unwrap_or("").contains("Mugai-Test.EICAR"));
        let a = call(&api, get(&format!("/o/{token}/original"), None)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.text().contains("ウイルスが検出されました"));
    }

    // clamd gone: nothing is released (fail closed).
    drop(clamd);
    let a = call(&api, get(&format!("/v1/originals/{token}"), None)).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::SERVICE_UNAVAILABLE, "scan_unavailable".into())
    );
}

#[tokio::test]
async fn after_scan_and_approval_never_puts_an_infected_original_before_an_approver() {
    let Some(clamd) = start_clamd() else { return };
    let api = api(&format!(
        "originals = \"after_scan_and_approval\"\n[scan]\nclamd = \"{}\"\ntimeout_secs = 30\n",
        clamd.socket.display()
    ));
    let clean = fixture("pdf/openaction_js.pdf");
    let (clean_token, clean_id) = kept_part_with_id(&api, &clean);
    let (infected_token, infected_id) = kept_part_with_id(&api, EICAR.as_bytes());
    let cookie = format!("mugai_csrf={CSRF}");
    for token in [&clean_token, &infected_token] {
        ask(&api, token).await;
    }
    // The approver sees the clean one with clamd's verdict, and never the infected one: it was
    // declined at once, by clamd, and the requester's page says why.
    let a = call(
        &api,
        form(
            "/approvals/login",
            &format!("csrf={CSRF}&key={APPROVE}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    let session = format!(
        "{cookie}; mugai_approver={}",
        a.cookie("mugai_approver").expect("session")
    );
    let page = call(&api, with_headers(get("/approvals", None), &[("cookie", &session)]))
        .await
        .text();
    assert!(page.contains(&format!("/approvals/{clean_id}/approve")), "{page}");
    assert!(page.contains("検出なし"), "the verdict is shown: {page}");
    assert!(!page.contains(&infected_id), "{page}");
    let pending = call(&api, get("/v1/approvals", Some(APPROVE))).await.json();
    assert_eq!(pending["pending"].as_array().map(Vec::len), Some(1), "{pending}");
    let a = call(
        &api,
        form(
            &format!("/approvals/{infected_id}/approve"),
            &format!("csrf={CSRF}"),
            &[("cookie", &session)],
        ),
    )
    .await;
    assert_ne!(a.status, StatusCode::SEE_OTHER, "nothing to approve");
    let a = call(&api, get(&format!("/v1/originals/{infected_token}"), None)).await;
    assert_eq!((a.status, a.error()), (StatusCode::FORBIDDEN, "denied".into()));
    let requester_page = call(&api, get(&format!("/o/{infected_token}"), None)).await.text();
    assert!(requester_page.contains("Mugai-Test.EICAR"), "{requester_page}");

    // The clean one, approved, is scanned again as it is handed out.
    let a = call(
        &api,
        form(
            &format!("/approvals/{clean_id}/approve"),
            &format!("csrf={CSRF}"),
            &[("cookie", &session)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    let a = call(&api, get(&format!("/v1/originals/{clean_token}"), None)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    assert_eq!(a.body, clean);
    drop(clamd);
    let a = call(&api, get(&format!("/v1/originals/{clean_token}"), None)).await;
    assert_eq!(a.error(), "scan_unavailable", "clamd gone: not handed out");
    // And a request with clamd gone is not made: try again later.
    let (token, _) = kept_part_with_id(&api, b"later");
    let a = call(
        &api,
        form(
            &format!("/o/{token}/request"),
            &format!("csrf={CSRF}&{ASKED}"),
            &[("cookie", &cookie)],
        ),
    )
    .await;
    assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text());
}

/// A request body of unknown length (chunked transfer), delivered in pieces; when `stalls`,
/// it never ends after its last piece (a slow client).
struct Pieces {
    pieces: std::collections::VecDeque<axum::body::Bytes>,
    stalls: bool,
}

impl http_body::Body for Pieces {
    type Data = axum::body::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        match self.pieces.pop_front() {
            Some(b) => std::task::Poll::Ready(Some(Ok(http_body::Frame::data(b)))),
            None if self.stalls => std::task::Poll::Pending,
            None => std::task::Poll::Ready(None),
        }
    }
}

fn pieces(bytes: &[u8], stalls: bool) -> Body {
    Body::new(Pieces {
        pieces: bytes
            .chunks(16 * 1024)
            .map(axum::body::Bytes::copy_from_slice)
            .collect(),
        stalls,
    })
}

fn chunked(bytes: &[u8]) -> Body {
    pieces(bytes, false)
}

fn sha(bytes: &[u8]) -> String {
    mugai::report::hex(&Sha256::digest(bytes))
}

/// The input digest and size in the kept report of an answer.
async fn reported_input(api: &Api, answer: &Answer) -> (String, u64) {
    let id = answer.header("x-mugai-report-id");
    let report = call(api, get(&format!("/v1/reports/{id}"), Some(SUBMIT))).await.json();
    (
        report["input"]["sha256"].as_str().unwrap_or("").to_string(),
        report["input"]["size"].as_u64().unwrap_or(0),
    )
}

async fn metrics(api: &Api) -> String {
    String::from_utf8_lossy(&call(api, get("/metrics", None)).await.body).into_owned()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test]
async fn bodies_past_the_memory_budget_wait_on_disk_and_come_out_the_same() {
    let reference = api("");
    let input = fixture("ole/real_clean.ppt");
    let expected = call(&reference, post(Some(SUBMIT), "a.ppt", input.clone())).await;
    assert_eq!(expected.status, StatusCode::OK);

    // 64 KiB of body memory for the whole daemon; the file is 594 KiB.
    let api = api("body_memory_bytes = 65536\n");
    let spool = api._dir.path().join("data").join("spool");
    // Alone and of known length: it takes the whole budget and stays in memory.
    let a = call(&api, post(Some(SUBMIT), "a.ppt", input.clone())).await;
    assert_eq!((a.status, sha(&a.body)), (StatusCode::OK, sha(&expected.body)));
    assert_eq!(metric(&metrics(&api).await, "mugai_http_spooled_bodies_total"), 0);

    // Of unknown length: past the first 64 KiB it goes to the spool.
    let chunked_post = || chunked_post_to(&input);
    let a = call(&api, chunked_post()).await;
    assert_eq!((a.status, sha(&a.body)), (StatusCode::OK, sha(&expected.body)));
    assert_eq!(metric(&metrics(&api).await, "mugai_http_spooled_bodies_total"), 1);
    // The digest taken as the body arrived is the file's, whether it stayed in memory or not.
    assert_eq!(reported_input(&api, &a).await, (sha(&input), input.len() as u64));
    assert_eq!(
        reported_input(&reference, &expected).await,
        (sha(&input), input.len() as u64)
    );

    // Four at once: the first holds the budget, the others wait on disk; all come out equal.
    let (a, b, c, d) = tokio::join!(
        call(&api, post(Some(SUBMIT), "a.ppt", input.clone())),
        call(&api, post(Some(SUBMIT), "a.ppt", input.clone())),
        call(&api, chunked_post()),
        call(&api, post(Some(SUBMIT), "a.ppt", input.clone())),
    );
    for x in [&a, &b, &c, &d] {
        assert_eq!((x.status, sha(&x.body)), (StatusCode::OK, sha(&expected.body)));
    }
    let text = metrics(&api).await;
    assert!(metric(&text, "mugai_http_spooled_bodies_total") >= 3, "{text}");
    // Every share of the budget is back, and spool files leave no name behind.
    assert_eq!(metric(&text, "mugai_http_body_memory_free_bytes"), 65536);
    assert_eq!(std::fs::read_dir(&spool).expect("spool dir").count(), 0);

    // A chunked body past http.max_body_bytes is refused as it arrives.
    let small = self::api("max_body_bytes = 100000\nbody_memory_bytes = 65536\n");
    let a = call(&small, chunked_post_to(&input)).await;
    assert_eq!(
        (a.status, a.error()),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large".into())
    );
}

fn chunked_post_to(input: &[u8]) -> Request<Body> {
    Request::post("/v1/sanitize")
        .header("content-disposition", "attachment; filename=\"a.ppt\"")
        .header("authorization", format!("Bearer {SUBMIT}"))
        .body(chunked(input))
        .expect("request")
}

#[test]
fn the_body_budget_is_checked_in_the_config() {
    let e = Config::from_toml("[http]\nbody_memory_bytes = 1000\n").expect_err("too small");
    assert!(e.to_string().contains("http.body_memory_bytes"), "{e}");
}

#[tokio::test]
async fn uploads_in_flight_are_bounded_before_their_bodies_are_read() {
    // One worker and no queue: one upload at a time, counted from its first byte.
    let api = api("max_queued = 0\n[engine]\nworkers = 1\n");
    let stalled = Request::post("/v1/sanitize")
        .header("content-disposition", "attachment; filename=\"a.txt\"")
        .header("authorization", format!("Bearer {SUBMIT}"))
        .body(pieces(b"still coming", true))
        .expect("request");
    let slow = tokio::spawn(router(api.state.clone()).oneshot(stalled));
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    // A second upload is refused before its body is read, with no worker busy.
    assert_eq!(api.state.pipeline.workers().available_permits(), 1);
    let a = call(&api, post(Some(SUBMIT), "b.txt", b"plain text\n".to_vec())).await;
    assert_eq!((a.status, a.error()), (StatusCode::SERVICE_UNAVAILABLE, "busy".into()));
    assert!(a.header("retry-after").parse::<u32>().is_ok());
    // The slow client goes away: its place is free again.
    slow.abort();
    let _ = slow.await;
    let a = call(&api, post(Some(SUBMIT), "b.txt", b"plain text\n".to_vec())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", String::from_utf8_lossy(&a.body));
}

#[tokio::test]
async fn every_evasion_is_refused_by_the_api() {
    let api = api("");
    let manifest = String::from_utf8(fixture("evasion/MANIFEST")).expect("manifest");
    let mut seen = 0;
    for (file, name) in manifest.lines().filter_map(|l| l.split_once('\t')) {
        let encoded = common::ext_value(name);
        let request = Request::post("/v1/sanitize")
            .header("content-disposition", format!("attachment; filename*=UTF-8''{encoded}"))
            .header("authorization", format!("Bearer {SUBMIT}"))
            .body(Body::from(fixture(&format!("evasion/{file}"))))
            .expect("request");
        let a = call(&api, request).await;
        assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY, "{name:?}");
        assert_eq!(a.json()["outcome"], "blocked", "{name:?}");
        seen += 1;
    }
    assert!(seen >= 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_parallel_wrong_passwords_make_at_most_five_guesses() {
    let api = api("");
    let zip = fixture("zip/zipcrypto.zip");
    let unlock = held_upload(&api, &zip).await;
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let state = api.state.clone();
            let unlock = unlock.clone();
            tokio::spawn(async move {
                let request = Request::post(unlock.as_str())
                    .header("content-type", "application/json")
                    .body(Body::from(
                        serde_json::json!({ "password": format!("guess{i}") }).to_string(),
                    ))
                    .expect("request");
                router(state).oneshot(request).await.expect("infallible").status()
            })
        })
        .collect();
    let mut guesses = 0;
    let mut refused = 0;
    for t in tasks {
        match t.await.expect("task") {
            StatusCode::BAD_REQUEST => guesses += 1,
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((guesses, refused), (5, 195));
    // The tries are in the ledger: a store opened again (a restart) still refuses.
    let token = unlock.trim_start_matches("/v1/held/").trim_end_matches("/unlock");
    let part = api
        .state
        .pipeline
        .store()
        .resolve(token, mugai::store::now())
        .expect("part");
    let config = api.state.pipeline.current().config.clone();
    let reopened = Store::open(&config.serve.data_dir, &config.store).expect("store");
    assert!(reopened.take_unlock_try(&part.id, 5, 900).expect("ledger").is_err());
}

/// Read from `s` until the peer closes or `within` passes; (bytes, whether it closed).
fn read_until_closed(s: &mut std::net::TcpStream, within: std::time::Duration) -> (String, bool) {
    use std::io::Read;
    s.set_read_timeout(Some(within)).expect("timeout");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).to_string(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&got).to_string(), false),
        }
    }
}

#[test]
fn slow_clients_are_cut_off_and_connections_are_bounded() {
    use std::io::Write;
    use std::net::TcpStream;
    use std::time::{Duration, Instant};
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut daemon, http) = serve_with_key(
        dir.path(),
        "header_timeout_secs = 1\nbody_timeout_secs = 1\nmax_connections = 2\n",
    );
    std::thread::sleep(Duration::from_millis(1500)); // the probe connections are gone

    // Headers never finished: the connection is closed after header_timeout_secs.
    let mut slow = TcpStream::connect(("127.0.0.1", http)).expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n").expect("write");
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(5));
    assert!(
        closed && started.elapsed() < Duration::from_secs(4),
        "not closed: {:?}",
        started.elapsed()
    );

    // A body that stops coming: 408 after body_timeout_secs.
    let mut upload = TcpStream::connect(("127.0.0.1", http)).expect("connect");
    upload
        .write_all(format!("POST /v1/sanitize HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {SUBMIT}\r\nContent-Length: 1000\r\n\r\nhello").as_bytes())
        .expect("write");
    let started = Instant::now();
    let (answer, _) = read_until_closed(&mut upload, Duration::from_secs(5));
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));
    drop(upload);

    // Two stalled connections take both places: a third is answered only once the header
    // timeout has closed one of them.
    let mut stalled: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(("127.0.0.1", http)).expect("connect"))
        .collect();
    for s in &mut stalled {
        s.write_all(b"GET /healthz HTTP/1.1\r\n").expect("write");
    }
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let mut third = TcpStream::connect(("127.0.0.1", http)).expect("connect");
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .expect("write");
    let (answer, _) = read_until_closed(&mut third, Duration::from_secs(5));
    let waited = started.elapsed();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        waited >= Duration::from_millis(500),
        "answered at once ({waited:?}): no connection limit"
    );
    let _ = daemon.kill();
    let _ = daemon.wait();
}

#[tokio::test]
async fn an_unlock_waits_for_a_worker_permit_like_every_other_piece_of_work() {
    let api = api("");
    let unlock = held_upload(&api, &fixture("zip/zipcrypto.zip")).await;
    let workers = api.state.pipeline.workers().clone();
    let all = u32::try_from(workers.available_permits()).expect("permits");
    let taken = workers.clone().acquire_many_owned(all).await.expect("every permit");
    let request = Request::post(unlock.as_str())
        .header("content-type", "application/json")
        .body(Body::from(serde_json::json!({ "password": "mugai-pass" }).to_string()))
        .expect("request");
    let answer = call(&api, request);
    tokio::pin!(answer);
    // Every permit is taken: the unlock waits instead of decrypting beside them.
    assert!(
        tokio::time::timeout(std::time::Duration::from_millis(500), &mut answer)
            .await
            .is_err(),
        "the unlock ran without a worker permit"
    );
    drop(taken);
    let a = answer.await;
    assert_eq!(a.status, StatusCode::OK);
}

/// A carry-in upload form: the CSRF field, the mailbox, and `files` (name, bytes).
fn carry_in_form(session: &str, mailbox: &str, files: &[(&str, &[u8])]) -> Request<Body> {
    let mut body = Vec::new();
    let mut field = |name: &str, filename: Option<&str>, value: &[u8]| {
        body.extend_from_slice(b"--CarryB0undary\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(name.as_bytes());
        body.push(b'"');
        if let Some(f) = filename {
            body.extend_from_slice(format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream").as_bytes());
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(value);
        body.extend_from_slice(b"\r\n");
    };
    field("csrf", None, CSRF.as_bytes());
    field("mailbox", None, mailbox.as_bytes());
    field("note", None, "よろしくお願いします".as_bytes());
    for (name, bytes) in files {
        field("files", Some(name), bytes);
    }
    body.extend_from_slice(b"--CarryB0undary--\r\n");
    Request::post("/carry-in/upload")
        .header("content-type", "multipart/form-data; boundary=CarryB0undary")
        .header("cookie", session)
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test]
async fn the_carry_in_box_signs_in_at_its_own_door_and_keeps_to_its_limits() {
    let tanaka = mugai::passwords::hash("tanaka-password").expect("hash");
    let yamada = mugai::passwords::hash("yamada-password").expect("hash");
    let api = api(&format!(
        "[portal]\nusers = [{{ name = \"tanaka\", argon2 = \"{tanaka}\", roles = [\"carry_in\"] }}, \
         {{ name = \"yamada\", argon2 = \"{yamada}\", roles = [\"approve\", \"admin\"] }}]\n\
         [carry_in]\nmailbox_domains = [\"city.example.lg.jp\"]\nmax_files = 4\ndaily_files = 3\n"
    ));
    let cookie = format!("mugai_csrf={CSRF}");
    let sign_in = |path: &str, user: &str| {
        form(
            path,
            &format!("csrf={CSRF}&user={user}&password={user}-password"),
            &[("cookie", &cookie)],
        )
    };
    // Each door lets in only its own people: an approver is no carrier, and the reverse.
    let a = call(&api, sign_in("/carry-in/login", "yamada")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.text());
    assert!(a.text().contains("ファイル持ち込みの権限がありません"));
    assert_eq!(
        call(&api, sign_in("/approvals/login", "tanaka")).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Wrong passwords at the internet-side box lock the box only: yamada still approves.
    // (With the refused sign-in above, five failures at this door.)
    for _ in 0..4 {
        let wrong = form(
            "/carry-in/login",
            &format!("csrf={CSRF}&user=yamada&password=guess"),
            &[("cookie", &cookie)],
        );
        assert_eq!(call(&api, wrong).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        call(&api, sign_in("/carry-in/login", "yamada")).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        call(&api, sign_in("/approvals/login", "yamada")).await.status,
        StatusCode::SEE_OTHER
    );
    let a = call(&api, sign_in("/carry-in/login", "tanaka")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    let carry = a.cookie("mugai_carry_in").expect("session");
    let session = format!("{cookie}; mugai_carry_in={carry}");
    // The carry-in session opens the box, and nothing on the LGWAN side.
    let page = call(&api, with_headers(get("/carry-in", None), &[("cookie", &session)])).await;
    assert!(
        page.text().contains("tanaka さんとしてサインインしています"),
        "{}",
        page.text()
    );
    assert!(page.text().contains("enctype=\"multipart/form-data\""));
    let approvals = call(&api, with_headers(get("/approvals", None), &[("cookie", &session)])).await;
    assert!(
        approvals.text().contains("name=\"password\""),
        "the approvals ask to sign in"
    );
    let admin = call(&api, with_headers(get("/admin", None), &[("cookie", &session)])).await;
    assert_ne!(admin.status, StatusCode::OK);

    let docm = fixture("ooxml/macro.docm");
    let one: &[(&str, &[u8])] = &[("報告書.docm", &docm)];
    // Without a session, without the form's token, to a mailbox outside the domains, too
    // many files: refused, and nothing is carried in.
    let a = call(&api, carry_in_form(&cookie, "kakari@city.example.lg.jp", one)).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let forged = format!("mugai_csrf={}; mugai_carry_in={carry}", "f".repeat(32));
    let a = call(&api, carry_in_form(&forged, "kakari@city.example.lg.jp", one)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = call(&api, carry_in_form(&session, "someone@example.com", one)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.text().contains("この届け先には送れません"), "{}", a.text());
    let names = ["a.docm", "b.docm", "c.docm", "d.docm", "e.docm"];
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (*n, docm.as_slice())).collect();
    let a = call(&api, carry_in_form(&session, "kakari@city.example.lg.jp", &files)).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.text().contains("ファイルを 1 件から 4 件まで選んでください"),
        "{}",
        a.text()
    );

    // Two files go through the pipeline; nothing listens at the next hop, so the notice is
    // not delivered (503) and the day's quota is given back: the same again is no quota
    // matter. Four files at once are over the day's three.
    for _ in 0..2 {
        let a = call(&api, carry_in_form(&session, "kakari@city.example.lg.jp", &files[..2])).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{}", a.text());
        assert!(a.text().contains("送信できませんでした"), "{}", a.text());
    }
    let a = call(&api, carry_in_form(&session, "kakari@city.example.lg.jp", &files[..4])).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        a.text().contains("本日の持ち込みの上限を超えます（本日これまで 0 件"),
        "{}",
        a.text()
    );

    let audit = std::fs::read_to_string(api._dir.path().join("audit.jsonl")).expect("audit");
    let refused: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"carry_in.refused\""))
        .filter_map(|l| l.split("\"reason\":\"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(
        refused,
        ["mailbox", "files", "next_hop", "next_hop", "quota"],
        "{audit}"
    );
    assert!(audit.contains("\"actor\":\"carry_in:tanaka\""), "{audit}");
}

/// Directory people at the carry-in door: anyone the directory signs in where no
/// `carry_in.ldap_group` is set; only its members where one is — and a wrong password or an
/// injected name never.
#[tokio::test]
async fn directory_people_carry_in_as_carry_in_ldap_group_allows() {
    let Some(slapd) = common::servers::Slapd::start(&common::servers::Slapd::city_directory()) else {
        return;
    };
    let suffix = common::servers::Slapd::SUFFIX;
    let url = format!("ldaps://127.0.0.1:{}", slapd.ldaps_port);
    let cookie = format!("mugai_csrf={CSRF}");
    let sign_in = |user: &str, password: &str| {
        form(
            "/carry-in/login",
            &format!("csrf={CSRF}&user={user}&password={password}"),
            &[("cookie", &cookie)],
        )
    };
    let open = api(&format!(
        "{}[carry_in]\nmailbox_domains = [\"city.example.lg.jp\"]\n",
        directory_config(&url, false, &slapd.ca)
    ));
    // tanaka is in no group: no approver, yet a staff member who may carry files in.
    let a = call(&open, sign_in("tanaka", "tanaka-password")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}\n{}", a.text(), slapd.log());
    assert!(a.cookie("mugai_carry_in").is_some());
    for (user, password) in [("tanaka", "wrong"), ("tanaka", ""), ("*)(uid=*", "x")] {
        let a = call(&open, sign_in(user, password)).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{user}: {}", a.text());
    }
    let closed = api(&format!(
        "{}[carry_in]\nmailbox_domains = [\"city.example.lg.jp\"]\nldap_group = \"cn=soumu-approvers,ou=groups,{suffix}\"\n",
        directory_config(&url, false, &slapd.ca)
    ));
    let a = call(&closed, sign_in("tanaka", "tanaka-password")).await;
    assert_eq!(
        a.status,
        StatusCode::UNAUTHORIZED,
        "not a member of carry_in.ldap_group"
    );
    let a = call(&closed, sign_in("yamada", "yamada-password")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.text());
    let audit = std::fs::read_to_string(closed._dir.path().join("audit.jsonl")).expect("audit");
    assert!(
        audit.contains("\"carry_in.sign_in_refused\"") && audit.contains("\"carry_in.signed_in\""),
        "{audit}"
    );
}
