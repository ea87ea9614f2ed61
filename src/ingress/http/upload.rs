//! The file in a request: either the whole body (its name from `Content-Disposition`,
//! RFC 6266 `filename*` included) or the first file of a `multipart/form-data` body. The
//! multipart body is split by the mail side's MIME code (`mail::mime`): the same bounded,
//! linear splitter, no second parser.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};

use super::error::ApiError;
use crate::mail::{header as mime_header, mime, parse::file_name};

/// Most parts looked at in a form (a file and a few fields).
const MAX_FORM_PARTS: usize = 16;

/// A file taken from a request.
pub struct Upload {
    pub name: Option<String>,
    pub bytes: Bytes,
}

pub fn take(headers: &HeaderMap, body: Bytes) -> Result<Upload, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    let upload = if mime_header::media_type(content_type) == "multipart/form-data" {
        from_form(content_type, &body)?
    } else {
        let name = headers
            .get(header::CONTENT_DISPOSITION)
            .and_then(|v| mime_header::param(v.as_bytes(), "filename"))
            .and_then(file_name);
        Upload { name, bytes: body }
    };
    if upload.bytes.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "empty",
            "the request holds no file",
        ));
    }
    Ok(upload)
}

fn bad(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad_multipart", message)
}

fn from_form(content_type: &[u8], body: &Bytes) -> Result<Upload, ApiError> {
    form(content_type, body, MAX_FORM_PARTS)?
        .files
        .into_iter()
        .next()
        .ok_or_else(|| bad("no file in the form (a part with a filename, or named \"file\")"))
}

/// A `multipart/form-data` body taken apart: its files, in order, and its text fields.
pub struct Form {
    pub files: Vec<Upload>,
    /// Text fields by name (UTF-8; a field that is not is left out), in order.
    pub fields: Vec<(String, String)>,
}

impl Form {
    /// The first text field called `name`.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// Split a form of at most `max_parts` parts (`content_type` names the boundary). A part with
/// a file name, or called `file`, is a file (an empty one, as a browser sends for a file input
/// left empty, is left out); the rest are text fields of at most [`MAX_FIELD_BYTES`].
pub fn form(content_type: &[u8], body: &Bytes, max_parts: usize) -> Result<Form, ApiError> {
    let boundary = mime_header::param(content_type, "boundary")
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or_else(|| bad("multipart/form-data without a boundary"))?;
    let parts = mime::split(body, boundary.as_bytes(), max_parts);
    if !parts.closed {
        return Err(bad(
            "the multipart body does not end with its closing boundary (or holds too many parts)",
        ));
    }
    let mut form = Form {
        files: Vec::new(),
        fields: Vec::new(),
    };
    for part in parts.parts {
        let entity = mime::entity(part);
        let fields = mime_header::fields(entity.header);
        let Some(disposition) = mime_header::find(&fields, "content-disposition") else {
            continue;
        };
        let filename = mime_header::param(disposition.value(), "filename");
        let field = mime_header::param(disposition.value(), "name");
        if filename.is_some() || field.as_deref() == Some("file") {
            if entity.body.is_empty() {
                continue;
            }
            // The part's bytes as a slice of the body: no copy.
            let start = entity.body.as_ptr() as usize - body.as_ptr() as usize;
            form.files.push(Upload {
                name: filename.and_then(file_name),
                bytes: body.slice(start..start + entity.body.len()),
            });
        } else if let (Some(name), Ok(value)) = (field, std::str::from_utf8(entity.body)) {
            if value.len() > MAX_FIELD_BYTES {
                return Err(bad("a text field of the form is too long"));
            }
            form.fields.push((name, value.to_string()));
        }
    }
    Ok(form)
}

/// Longest text field of a form.
const MAX_FIELD_BYTES: usize = 16 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("value"));
        }
        h
    }

    #[test]
    fn raw_body_with_a_japanese_name() {
        let h = headers(&[(
            "content-disposition",
            "attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D.pdf",
        )]);
        let u = take(&h, Bytes::from_static(b"%PDF-")).expect("upload");
        assert_eq!(u.name.as_deref(), Some("見積.pdf"));
        assert_eq!(&u.bytes[..], b"%PDF-");
    }

    #[test]
    fn form_file_and_broken_forms() {
        let body = Bytes::from_static(
            b"--XY\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XY\r\n\
              Content-Disposition: form-data; name=\"upload\"; filename=\"../a.docx\"\r\n\
              Content-Type: application/octet-stream\r\n\r\nPK\x03\x04data\r\n--XY--\r\n",
        );
        let h = headers(&[("content-type", "multipart/form-data; boundary=XY")]);
        let u = take(&h, body.clone()).expect("upload");
        assert_eq!(u.name.as_deref(), Some("a.docx"));
        assert_eq!(&u.bytes[..], b"PK\x03\x04data");
        let cut = body.slice(..body.len() - 8);
        assert_eq!(take(&h, cut).err().map(|e| e.code), Some("bad_multipart"));
        let h = headers(&[("content-type", "multipart/form-data")]);
        assert_eq!(take(&h, body).err().map(|e| e.code), Some("bad_multipart"));
        assert_eq!(
            take(&HeaderMap::new(), Bytes::new()).err().map(|e| e.code),
            Some("empty")
        );
    }
}
