//! Fuzz what the HTTP side parses from a request: the upload (raw body with a
//! Content-Disposition name, or multipart/form-data; the carry-in box's form of many files and
//! fields), Accept-Language, cookies and the CSRF
//! pair of a form. The input is four NUL-separated pieces: Content-Type,
//! Content-Disposition, Cookie + Accept-Language (split at the first newline), and the body.
//! Never a panic; an upload is never larger than the body it came from and never empty.
#![no_main]

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut pieces = data.splitn(4, |&b| b == 0);
    let content_type = pieces.next().unwrap_or_default();
    let disposition = pieces.next().unwrap_or_default();
    let client = pieces.next().unwrap_or_default();
    let body = pieces.next().unwrap_or_default();
    let (cookie, language) = match client.iter().position(|&b| b == b'\n') {
        Some(i) => (&client[..i], &client[i + 1..]),
        None => (client, &[][..]),
    };
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-type", content_type),
        ("content-disposition", disposition),
        ("cookie", cookie),
        ("accept-language", language),
    ] {
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.insert(name, v);
        }
    }
    let parsed = mugai::ingress::http::parse_request(&headers, Bytes::copy_from_slice(body));
    if let Ok((_, size)) = parsed.upload {
        assert!(size > 0 && size <= body.len());
    }
});
