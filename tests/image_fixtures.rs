//! Pictures through the engine, judged by exiftool (metadata) and ImageMagick's `identify`
//! (dimensions, frame count and a hash of the decoded pixels): the metadata, comments and
//! trailers the fixtures carry are gone, the pixels of lossless formats are identical, a
//! rotated photo comes out upright, an animation keeps its frames, and a pixel bomb is refused
//! from its header. Fixtures: `fixtures/gen/image_fixtures.sh`.

mod common;

use common::*;
use mugai::{Config, Engine, Outcome};

/// Every tag exiftool reads, as text (`-a -G1`: duplicates and groups included).
fn exiftool(path: &std::path::Path) -> String {
    let out = judge("exiftool", &["-a", "-G1", "-s", path.to_str().expect("path")]);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One line per frame: format, width, height, pixel hash. `strict`: identify must not
/// complain (it does about the fixtures' trailers, rightly, and never may about an output).
fn identify(path: &std::path::Path, strict: bool) -> Vec<String> {
    let out = judge("identify", &["-format", "%m %w %h %#\n", path.to_str().expect("path")]);
    assert!(
        !strict || (out.status.success() && out.stderr.is_empty()),
        "identify complains about {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

const SECRETS: &[&str] = &["MUGAI-SECRET", "GPS Latitude", "GPSLatitude", "Artist"];

#[test]
fn pictures_lose_metadata_and_trailers_and_keep_their_pixels() {
    let engine = Engine::new(Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    // (file, pixels identical after the rewrite, frames)
    let cases = [
        ("picture.png", true, 1),
        ("picture.gif", true, 1),
        ("animated.gif", true, 3),
        ("picture.bmp", true, 1),
        ("picture.tif", true, 1),
        ("picture.webp", true, 1),
        ("photo.jpg", false, 1),
    ];
    for (file, lossless, frames) in cases {
        let bytes = fixture(&format!("image/{file}"));
        let input = write_temp(dir.path(), &format!("in-{file}"), &bytes);
        // The fixture really carries what must go: metadata exiftool reads, or a trailer.
        let tags_in = exiftool(&input);
        let trailer = bytes.windows(20).any(|w| w == b"MUGAI-SECRET-TRAILER");
        assert!(
            tags_in.contains("MUGAI-SECRET") || trailer,
            "{file}: fixture carries nothing:\n{tags_in}"
        );

        let (p, output) = sanitize_expecting(
            &engine,
            &bytes,
            file,
            Outcome::Disarmed,
            dir.path(),
            &format!("out-{file}"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let tags_out = exiftool(&output);
        for secret in SECRETS {
            assert!(
                !tags_out.contains(secret),
                "{file}: exiftool still finds {secret}:\n{tags_out}"
            );
        }
        let out_bytes = std::fs::read(&output).expect("output");
        assert!(
            !out_bytes.windows(12).any(|w| w == b"MUGAI-SECRET"),
            "{file}: a marker survives in the bytes"
        );
        assert_eq!(
            p.report.output.as_ref().map(|o| o.kind),
            Some(p.report.detected_kind),
            "{file}: same format out"
        );

        let (before, after) = (identify(&input, false), identify(&output, true));
        assert_eq!(after.len(), frames, "{file}: frames {after:?}");
        assert_eq!(before.len(), after.len(), "{file}: frame count changed");
        for (b, a) in before.iter().zip(&after) {
            let (b, a): (Vec<&str>, Vec<&str>) = (b.split(' ').collect(), a.split(' ').collect());
            assert_eq!(b[0], a[0], "{file}: format");
            if lossless {
                assert_eq!(b[1..], a[1..], "{file}: pixels changed");
            } else {
                // The photo is stored 64x48 with EXIF orientation 6 (rotate 90°): upright, it
                // is 48x64, and that is how it must come out once the orientation tag is gone.
                assert_eq!((a[1], a[2]), (b[2], b[1]), "{file}: not turned upright");
            }
        }
    }
}

#[test]
fn a_pixel_bomb_is_refused_from_its_header() {
    let engine = Engine::new(Config::default());
    let bytes = fixture("image/pixel_bomb.png");
    let started = std::time::Instant::now();
    let p = engine.run(&bytes, Some("bomb.png"));
    assert_eq!(p.report.outcome, Outcome::Blocked);
    assert_eq!(p.report.reason.as_deref(), Some("limit_exceeded"));
    assert!(p
        .report
        .reason_detail
        .as_deref()
        .unwrap_or_default()
        .contains("image.max_pixels"));
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
}

#[test]
fn a_second_pass_changes_nothing_and_a_clean_jpeg_is_kept_as_it_is() {
    let engine = Engine::new(Config::default());
    for file in ["photo.jpg", "picture.png", "animated.gif", "picture.webp"] {
        let first = engine.run(&fixture(&format!("image/{file}")), Some(file));
        let out = first.output.expect("output");
        let second = engine.run(&out, Some(file));
        assert_eq!(
            second.report.outcome,
            Outcome::Clean,
            "{file}: {:?}",
            second.report.findings
        );
        assert_eq!(
            second.output.as_deref(),
            Some(out.as_slice()),
            "{file}: second pass changed the bytes"
        );
    }
}

/// A picture with nothing but pixels is reported clean (re-encoded, nothing left out); the
/// same picture with a text chunk or a trailer is disarmed.
#[test]
fn plain_pictures_are_clean_and_extras_are_reported() {
    let engine = Engine::new(Config::default());
    let mut png = Vec::new();
    image::RgbImage::from_fn(16, 9, |x, y| image::Rgb([x as u8 * 15, y as u8 * 28, 200]))
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode");
    assert_eq!(engine.run(&png, Some("a.png")).report.outcome, Outcome::Clean);
    let mut trailer = png.clone();
    trailer.extend_from_slice(b"<script>x</script>");
    assert_eq!(engine.run(&trailer, Some("a.png")).report.outcome, Outcome::Disarmed);
}
