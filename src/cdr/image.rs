//! Pictures (JPEG, PNG, GIF, BMP, TIFF, WebP): decoded to pixels and encoded again.
//!
//! Re-encoding is the disarm: nothing of the input file survives but its pixels, so EXIF and
//! XMP metadata (GPS positions, camera serials), comments, private chunks, and data appended
//! after the picture (polyglots: a JPEG that is also a ZIP or an HTML page) are gone whatever
//! they contain. Each format comes out as itself: JPEG re-encoded at quality 92 (the only lossy
//! step), PNG, BMP and TIFF losslessly, WebP as lossless WebP. GIFs are rewritten frame by
//! frame from their palette indices with the `gif` crate, so their pixels are exact too.
//!
//! Two exceptions keep pictures that carry nothing but pixels as they are (a second pass
//! does not degrade a photo, and the common case costs a decode instead of an encode): a JPEG
//! that has nothing but the segments an encoder writes (no APPn but JFIF, no comment, nothing
//! after the end marker) — or has only metadata segments beside them, which are cut out
//! without touching the entropy-coded data (unless its EXIF orientation turns the picture:
//! then it is encoded again, turned) — is decoded in full, to prove it is a picture within
//! the limits, and kept; a PNG of only critical and known-safe chunks is proven a picture in
//! one pass over its compressed data (every CRC, a header the format allows, a zlib stream
//! that ends exactly at the end of the last IDAT chunk and inflates to exactly the rows its
//! header declares, each with a filter type that exists: nothing hidden inside the stream,
//! nothing a decoder could refuse) and kept. The other lossless formats are
//! re-encoded every time; their encoders are deterministic, so a second pass gives the same
//! bytes.
//!
//! The pixel count (`image.max_pixels`, every frame of an animation) is checked from the
//! header before any pixel is decoded, and the decoded size is charged to the file's
//! decompression budget, so a small file declaring a huge picture is refused at no cost.
//! EXIF orientation is applied to the pixels before the metadata goes, so photos stay upright.
//! Colour profiles go by default (`image.icc_profile`).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageEncoder, ImageError, ImageFormat, ImageReader, Limits};

use super::{Clean, Cx, FileKind, Refusal, Sanitizer};
use crate::config::ImagePolicy;
use crate::report::{Action, Finding, What};

/// The picture sanitizer.
pub struct ImageSanitizer;

/// JPEG quality of re-encoded photos: visually lossless for photos and scans.
const JPEG_QUALITY: u8 = 92;

impl Sanitizer for ImageSanitizer {
    fn kinds(&self) -> &'static [FileKind] {
        &[
            FileKind::Jpeg,
            FileKind::Png,
            FileKind::Gif,
            FileKind::Bmp,
            FileKind::Tiff,
            FileKind::Webp,
        ]
    }

    fn sanitize(&self, input: &[u8], cx: &mut Cx<'_>) -> Result<Clean, Refusal> {
        let kind = super::detect::detect(input);
        let policy = cx.config.image;
        let mut stripped_only = false;
        let bytes = match kind {
            FileKind::Gif => gif::rewrite(input, policy, cx)?,
            FileKind::Jpeg if jpeg_is_plain(input, policy.keep_icc_profile) => {
                decode(input, ImageFormat::Jpeg, policy, cx)?;
                input.to_vec()
            }
            FileKind::Jpeg => match jpeg_without_metadata(input, policy.keep_icc_profile) {
                // Decoded in full like a plain one. An Adobe APP14 (colour transform) or
                // any other segment not on the list means encoding again.
                Some(stripped) if jpeg_is_plain(&stripped, policy.keep_icc_profile) => {
                    decode(&stripped, ImageFormat::Jpeg, policy, cx)?;
                    stripped_only = true;
                    stripped
                }
                _ => reencode(input, ImageFormat::Jpeg, policy, cx)?,
            },
            FileKind::Png if png_is_plain(input, policy.keep_icc_profile) => {
                match png_checked(input, policy.max_pixels) {
                    Some((width, height, bytes_per_pixel)) => {
                        admit(width, height, bytes_per_pixel, policy, cx)?;
                        input.to_vec()
                    }
                    None => reencode(input, ImageFormat::Png, policy, cx)?,
                }
            }
            _ => {
                let format = match kind {
                    FileKind::Jpeg => ImageFormat::Jpeg,
                    FileKind::Png => ImageFormat::Png,
                    FileKind::Bmp => ImageFormat::Bmp,
                    FileKind::Tiff => ImageFormat::Tiff,
                    FileKind::Webp => ImageFormat::WebP,
                    other => return Err(Refusal::Internal(format!("{} is not a picture", other.as_str()))),
                };
                reencode(input, format, policy, cx)?
            }
        };
        cx.check_deadline()?;
        // Say what was left out when the input held more than a picture (metadata, comments,
        // a trailer). A plain picture that was only re-encoded is reported clean: it lost
        // nothing a reader would miss.
        let plain = bytes == input
            || match kind {
                FileKind::Png => png_is_plain(input, policy.keep_icc_profile),
                FileKind::Webp => webp_is_plain(input),
                FileKind::Bmp => bmp_is_plain(input),
                _ => false,
            };
        let findings = if !plain {
            let mut note = Finding::removed(
                What::Metadata,
                "picture",
                if stripped_only {
                    "metadata segments cut out (EXIF, XMP, comments); the picture data is kept as it was"
                } else {
                    "re-encoded from its pixels: metadata, comments and data after the picture are not carried over"
                },
            );
            note.action = Action::Neutralized;
            vec![note]
        } else {
            Vec::new()
        };
        Ok(Clean { bytes, kind, findings })
    }
}

/// Refuse a picture whose declared size is over the limit, and charge the decoded size.
fn admit(width: u64, height: u64, bytes_per_pixel: u64, policy: ImagePolicy, cx: &mut Cx<'_>) -> Result<(), Refusal> {
    let pixels = width.saturating_mul(height);
    if pixels == 0 {
        return Err(Refusal::Malformed("a picture with no pixels".into()));
    }
    if pixels > policy.max_pixels {
        return Err(Refusal::LimitExceeded {
            limit: "image.max_pixels",
            detail: format!("{width}×{height} pixels, the limit is {}", policy.max_pixels),
        });
    }
    cx.charge_decompressed(pixels.saturating_mul(bytes_per_pixel))
}

fn image_error(e: ImageError) -> Refusal {
    match e {
        ImageError::Limits(l) => Refusal::LimitExceeded {
            limit: "image.max_pixels",
            detail: l.to_string(),
        },
        other => Refusal::Malformed(format!("picture: {other}")),
    }
}

/// Decode and encode again in the same format.
fn reencode(input: &[u8], format: ImageFormat, policy: ImagePolicy, cx: &mut Cx<'_>) -> Result<Vec<u8>, Refusal> {
    let (img, icc) = decode(input, format, policy, cx)?;
    encode(&img, format, icc)
}

/// Decode within the limits, with EXIF orientation applied; the colour profile when kept.
fn decode(
    input: &[u8],
    format: ImageFormat,
    policy: ImagePolicy,
    cx: &mut Cx<'_>,
) -> Result<(DynamicImage, Option<Vec<u8>>), Refusal> {
    let mut reader = ImageReader::with_format(Cursor::new(input), format);
    let mut limits = Limits::default();
    // The decoder's own allocation cap: the budget left, so no decoder can allocate past it
    // even if its header check were wrong.
    limits.max_alloc = Some(cx.decompressed_left().min(policy.max_pixels.saturating_mul(16)));
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(image_error)?;
    let (w, h) = decoder.dimensions();
    let bpp = u64::from(decoder.color_type().bytes_per_pixel());
    admit(u64::from(w), u64::from(h), bpp, policy, cx)?;
    let orientation = decoder.orientation().ok();
    let icc = if policy.keep_icc_profile {
        decoder.icc_profile().ok().flatten()
    } else {
        None
    };
    let mut img = DynamicImage::from_decoder(decoder).map_err(image_error)?;
    cx.check_deadline()?;
    if let Some(o) = orientation {
        img.apply_orientation(o);
    }
    Ok((img, icc))
}

/// Whether a PNG holds only picture chunks (no text, EXIF, time, private chunks) and nothing
/// after IEND.
fn png_is_plain(input: &[u8], icc_allowed: bool) -> bool {
    png_chunks(input).is_some_and(|(chunks, after)| {
        after.is_empty()
            && chunks.iter().all(|c| match c.kind {
                b"IHDR" | b"PLTE" | b"IDAT" | b"IEND" | b"tRNS" | b"gAMA" | b"cHRM" | b"sRGB" | b"pHYs" | b"sBIT"
                | b"bKGD" => true,
                b"iCCP" => icc_allowed,
                _ => false,
            })
    })
}

/// One PNG chunk as framed in the file.
struct PngChunk<'a> {
    kind: &'a [u8],
    data: &'a [u8],
    /// The CRC stored after the chunk, over `kind` and `data`.
    crc: &'a [u8],
}

impl PngChunk<'_> {
    fn crc_ok(&self) -> bool {
        let mut crc = flate2::Crc::new();
        crc.update(self.kind);
        crc.update(self.data);
        crc.sum().to_be_bytes() == self.crc
    }
}

/// A PNG's chunks after the signature, through IEND, and what follows IEND; `None` when the
/// framing breaks (a length past the end) or there is no IEND.
fn png_chunks(input: &[u8]) -> Option<(Vec<PngChunk<'_>>, &[u8])> {
    let mut rest = input.strip_prefix(b"\x89PNG\r\n\x1a\n")?;
    let mut chunks = Vec::new();
    while rest.len() >= 12 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let end = len.checked_add(12)?;
        let chunk = PngChunk {
            kind: &rest[4..8],
            data: rest.get(8..len + 8)?,
            crc: rest.get(len + 8..end)?,
        };
        let last = chunk.kind == b"IEND";
        chunks.push(chunk);
        rest = &rest[end..];
        if last {
            return Some((chunks, rest));
        }
    }
    None
}

/// A PNG's dimensions and bytes per pixel (at least 1), when its chunks all have their right
/// CRC, its header is one the format allows (bit depth for the colour type, methods 0,
/// interlacing none or Adam7, a palette before the data of a palette picture), and its image
/// data is exactly what the header declares: one run of IDAT chunks whose zlib stream (its
/// Adler-32 checked) ends at the end of the last one, inflates to the size the header gives,
/// and starts every row with a filter type that exists. That is everything a decoder could
/// refuse — unfiltering the rows cannot fail — so a PNG that passes is a picture, proven in
/// one pass over its compressed data without decoding its pixels into memory. (Structure
/// and the chunk allowlist are [`png_is_plain`]'s.)
fn png_checked(input: &[u8], max_pixels: u64) -> Option<(u64, u64, u64)> {
    let (chunks, _) = png_chunks(input)?;
    let mut header = None;
    let mut palette = false;
    let mut idat: Vec<&[u8]> = Vec::new();
    let mut idat_ended = false;
    for chunk in &chunks {
        if !chunk.crc_ok() {
            return None;
        }
        let data = chunk.data;
        match chunk.kind {
            b"IHDR" if data.len() == 13 && header.is_none() => header = Some(data),
            b"IHDR" => return None,
            // The header comes first, as every decoder requires.
            _ if header.is_none() => return None,
            b"PLTE" if data.len() % 3 == 0 && (3..=768).contains(&data.len()) && idat.is_empty() => palette = true,
            b"PLTE" => return None,
            b"IDAT" if idat_ended => return None,
            b"IDAT" => idat.push(data),
            _ if !idat.is_empty() => idat_ended = true,
            _ => {}
        }
    }
    let h = header?;
    let width = u64::from(u32::from_be_bytes([h[0], h[1], h[2], h[3]]));
    let height = u64::from(u32::from_be_bytes([h[4], h[5], h[6], h[7]]));
    let (depth, colour, methods, interlace) = (h[8], h[9], (h[10], h[11]), h[12]);
    let channels: u64 = match (colour, depth) {
        (0, 1 | 2 | 4 | 8 | 16) => 1,
        (2, 8 | 16) => 3,
        (3, 1 | 2 | 4 | 8) if palette => 1,
        (4, 8 | 16) => 2,
        (6, 8 | 16) => 4,
        _ => return None,
    };
    if width == 0 || height == 0 || width > 1 << 31 || height > 1 << 31 || methods != (0, 0) {
        return None;
    }
    // A picture over the limit is not inflated here: the decoder's path refuses it from its
    // header, with the limit named.
    if width.saturating_mul(height) > max_pixels {
        return None;
    }
    let depth = u64::from(depth);
    let row = |w: u64| 1 + (w * channels * depth).div_ceil(8);
    // The rows of the image data, as (count, bytes each with the filter byte); Adam7 has
    // seven passes, each a sub-image of its own (a pass with no pixels has no rows).
    let rows: Vec<(u64, u64)> = match interlace {
        0 => vec![(height, row(width))],
        1 => [
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        ]
        .iter()
        .filter_map(|&(x0, y0, dx, dy)| {
            let w = width.saturating_sub(x0).div_ceil(dx);
            let h = height.saturating_sub(y0).div_ceil(dy);
            (w > 0 && h > 0).then(|| (h, row(w)))
        })
        .collect(),
        _ => return None,
    };
    super::png_rows::rows_exact(&idat, &rows).then_some((width, height, (channels * depth).div_ceil(8).max(1)))
}

/// Whether a WebP holds only picture chunks (no EXIF, XMP or others) and nothing after its
/// RIFF container.
fn webp_is_plain(input: &[u8]) -> bool {
    let (Some(b"RIFF"), Some(size), Some(b"WEBP")) = (input.get(..4), input.get(4..8), input.get(8..12)) else {
        return false;
    };
    let riff_len = u32::from_le_bytes([size[0], size[1], size[2], size[3]]) as usize;
    if riff_len.checked_add(8) != Some(input.len()) {
        return false;
    }
    let mut rest = &input[12..];
    while rest.len() >= 8 {
        let len = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if !matches!(&rest[..4], b"VP8 " | b"VP8L" | b"VP8X" | b"ALPH" | b"ANIM" | b"ANMF") {
            return false;
        }
        let padded = len + (len & 1);
        let Some(after) = padded.checked_add(8).and_then(|n| rest.get(n..)) else {
            return false;
        };
        rest = after;
    }
    rest.is_empty()
}

/// Whether a BMP ends where its header says (BMP has no metadata, only room for a trailer).
fn bmp_is_plain(input: &[u8]) -> bool {
    input
        .get(2..6)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
        .is_some_and(|size| size == input.len())
}

/// One JPEG segment: its marker code and its bytes (see [`jpeg_segments`]).
type Segment<'a> = (u8, &'a [u8]);

/// A JPEG's segments after SOI, in order: (marker code, the segment's bytes from its marker
/// through its body — for a scan, through its entropy-coded data), when the file is that:
/// every marker where one must be, EOI last; and what follows EOI.
fn jpeg_segments(input: &[u8]) -> Option<(Vec<Segment<'_>>, &[u8])> {
    if !input.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let mut segments = Vec::new();
    let mut at = 2;
    loop {
        let start = at;
        // A marker: 0xFF, optional fill bytes, the code.
        if input.get(at) != Some(&0xFF) {
            return None;
        }
        while input.get(at) == Some(&0xFF) {
            at += 1;
        }
        let &code = input.get(at)?;
        at += 1;
        match code {
            0xD9 => {
                segments.push((code, &input[start..at]));
                return Some((segments, &input[at..]));
            }
            0xD0..=0xD7 => {
                segments.push((code, &input[start..at]));
                continue;
            }
            _ => {}
        }
        let len = usize::from(u16::from_be_bytes([*input.get(at)?, *input.get(at + 1)?]));
        if len < 2 || input.len() < at + len {
            return None;
        }
        at += len;
        if code == 0xDA {
            // Entropy-coded data runs to the next marker that is not a stuffed 0xFF00 or a
            // restart marker.
            loop {
                at += input.get(at..)?.iter().position(|&b| b == 0xFF)?;
                match input.get(at + 1) {
                    Some(0x00) | Some(0xD0..=0xD7) => at += 2,
                    Some(0xFF) => at += 1,
                    Some(_) => break,
                    None => return None,
                }
            }
        }
        segments.push((code, &input[start..at]));
    }
}

/// The body of a segment (after marker and length), for the segments that have one.
fn segment_body(segment: &[u8]) -> &[u8] {
    let after_marker = segment.iter().position(|&b| b != 0xFF).map_or(segment.len(), |i| i + 1);
    segment.get(after_marker + 2..).unwrap_or_default()
}

/// Whether a segment is one an encoder writes for the pixels: frame, tables, scan, restart
/// interval and markers, JFIF APP0, EOI (and an ICC profile in APP2 when profiles are kept).
fn jpeg_segment_plain(code: u8, segment: &[u8], icc_allowed: bool) -> bool {
    match code {
        0xC0..=0xC3 | 0xC4 | 0xDB | 0xDD | 0xDA | 0xD0..=0xD7 | 0xD9 => true,
        0xE0 => segment_body(segment).starts_with(b"JFIF\0"),
        0xE2 => icc_allowed && segment_body(segment).starts_with(b"ICC_PROFILE\0"),
        _ => false,
    }
}

/// Whether a JPEG holds only what an encoder writes (see [`jpeg_segment_plain`]) and nothing
/// after EOI.
fn jpeg_is_plain(input: &[u8], icc_allowed: bool) -> bool {
    jpeg_segments(input).is_some_and(|(segments, after)| {
        after.is_empty()
            && segments
                .iter()
                .all(|&(code, seg)| jpeg_segment_plain(code, seg, icc_allowed))
    })
}

/// A JPEG whose only extra segments are metadata (EXIF, XMP, comments, vendor APPn, a colour
/// profile not kept), without them: the frame, tables and entropy-coded data as they are, so
/// the photo loses no quality. Zero bytes after EOI (padding some encoders write; Word's
/// own template thumbnail has one) go too. `None` when something else is there (a segment of
/// another kind, data after EOI), or when its EXIF orientation turns the picture (then the
/// pixels are encoded again, turned, as the orientation says).
fn jpeg_without_metadata(input: &[u8], icc_allowed: bool) -> Option<Vec<u8>> {
    let (segments, after) = jpeg_segments(input)?;
    if after.len() > 4096 || after.iter().any(|&b| b != 0) {
        return None;
    }
    let mut out = Vec::with_capacity(input.len());
    out.extend_from_slice(&[0xFF, 0xD8]);
    for (code, seg) in segments {
        if jpeg_segment_plain(code, seg, icc_allowed) {
            out.extend_from_slice(seg);
            continue;
        }
        let body = segment_body(seg);
        // Adobe's APP14 says how the colours are coded (RGB or YCbCr): not metadata.
        let metadata = matches!(code, 0xE0..=0xEF | 0xFE) && !(code == 0xEE && body.starts_with(b"Adobe"));
        if !metadata {
            return None;
        }
        if code == 0xE1 && body.starts_with(b"Exif\0\0") {
            let turned = image::metadata::Orientation::from_exif_chunk(&body[6..])
                .is_some_and(|o| o != image::metadata::Orientation::NoTransforms);
            if turned {
                return None;
            }
        }
    }
    Some(out)
}

/// Encode pixels in `format` (with the colour profile when one is kept and the format has room).
fn encode(img: &DynamicImage, format: ImageFormat, icc: Option<Vec<u8>>) -> Result<Vec<u8>, Refusal> {
    use image::codecs::{bmp, jpeg, png, webp};
    let mut out = Vec::new();
    let err = |e: ImageError| Refusal::Internal(format!("encoding the picture: {e}"));
    // Every encoder takes the pixels in a layout it supports; convert where it needs one.
    let write = |mut enc: Box<dyn ImageEncoderDyn + '_>, img: &DynamicImage| -> Result<(), Refusal> {
        if let Some(profile) = icc.clone() {
            // A format without room for a profile simply goes without.
            let _ = enc.icc(profile);
        }
        enc.write(img).map_err(err)
    };
    match format {
        ImageFormat::Jpeg => {
            // JPEG has no alpha; pictures with it are laid on their colour channels.
            let rgb = match img {
                DynamicImage::ImageLuma8(_) => img.clone(),
                _ => DynamicImage::ImageRgb8(img.to_rgb8()),
            };
            write(
                Box::new(jpeg::JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)),
                &rgb,
            )?;
        }
        ImageFormat::Png => write(
            Box::new(png::PngEncoder::new_with_quality(
                &mut out,
                png::CompressionType::Fast,
                png::FilterType::Adaptive,
            )),
            img,
        )?,
        ImageFormat::Bmp => {
            let img = match img {
                DynamicImage::ImageLuma8(_) | DynamicImage::ImageRgb8(_) | DynamicImage::ImageRgba8(_) => img.clone(),
                i if i.color().has_alpha() => DynamicImage::ImageRgba8(i.to_rgba8()),
                i => DynamicImage::ImageRgb8(i.to_rgb8()),
            };
            let mut w = Cursor::new(&mut out);
            bmp::BmpEncoder::new(&mut w)
                .write_image(img.as_bytes(), img.width(), img.height(), img.color().into())
                .map_err(err)?;
        }
        ImageFormat::Tiff => out = tiff_out::encode(img, icc)?,
        ImageFormat::WebP => {
            let img = if img.color().has_alpha() {
                DynamicImage::ImageRgba8(img.to_rgba8())
            } else {
                DynamicImage::ImageRgb8(img.to_rgb8())
            };
            write(Box::new(webp::WebPEncoder::new_lossless(&mut out)), &img)?;
        }
        other => return Err(Refusal::Internal(format!("no encoder for {other:?}"))),
    }
    Ok(out)
}

/// Object-safe view of an image encoder: `ImageEncoder` consumes itself and is generic.
trait ImageEncoderDyn {
    fn icc(&mut self, profile: Vec<u8>) -> Result<(), image::error::UnsupportedError>;
    fn write(self: Box<Self>, img: &DynamicImage) -> Result<(), ImageError>;
}

impl<E: ImageEncoder> ImageEncoderDyn for E {
    fn icc(&mut self, profile: Vec<u8>) -> Result<(), image::error::UnsupportedError> {
        self.set_icc_profile(profile)
    }

    fn write(self: Box<Self>, img: &DynamicImage) -> Result<(), ImageError> {
        (*self).write_image(img.as_bytes(), img.width(), img.height(), img.color().into())
    }
}

/// GIF: rewritten from palette indices, so pixels are exact and only image data survives.
mod gif {
    use std::io::Cursor;

    use ::gif::{ColorOutput, DecodeOptions, Encoder, MemoryLimit, Repeat};

    use super::{admit, Cx, ImagePolicy, Refusal};

    pub(super) fn rewrite(input: &[u8], policy: ImagePolicy, cx: &mut Cx<'_>) -> Result<Vec<u8>, Refusal> {
        let malformed = |e: ::gif::DecodingError| Refusal::Malformed(format!("GIF: {e}"));
        let mut options = DecodeOptions::new();
        options.set_color_output(ColorOutput::Indexed);
        let cap = cx.decompressed_left().min(policy.max_pixels).max(1);
        options.set_memory_limit(MemoryLimit::Bytes(cap.try_into().unwrap_or(std::num::NonZeroU64::MIN)));
        let mut decoder = options.read_info(Cursor::new(input)).map_err(malformed)?;
        let (w, h) = (decoder.width(), decoder.height());
        admit(u64::from(w), u64::from(h), 1, policy, cx)?;
        let palette = decoder.global_palette().map(<[u8]>::to_vec).unwrap_or_default();
        let repeat = decoder.repeat();
        let mut out = Vec::new();
        let mut frames = 0usize;
        {
            let mut encoder = Encoder::new(&mut out, w, h, &palette)
                .map_err(|e| Refusal::Internal(format!("encoding the GIF: {e}")))?;
            // The loop count goes before the frames (it is the one application extension
            // kept: without it an animation plays once).
            if policy.gif_all_frames && repeat != Repeat::Finite(0) {
                encoder
                    .set_repeat(repeat)
                    .map_err(|e| Refusal::Internal(format!("encoding the GIF: {e}")))?;
            }
            while let Some(frame) = decoder.read_next_frame().map_err(malformed)? {
                if frames > 0 {
                    // Each further frame is pixels too: the limit and budget count all of them.
                    admit(u64::from(frame.width), u64::from(frame.height), 1, policy, cx)?;
                    cx.check_deadline()?;
                }
                let mut clean = frame.clone();
                // "Wait for user input" has no meaning but to stall a viewer.
                clean.needs_user_input = false;
                encoder
                    .write_frame(&clean)
                    .map_err(|e| Refusal::Malformed(format!("GIF frame: {e}")))?;
                frames += 1;
                if !policy.gif_all_frames {
                    break;
                }
            }
            if frames == 0 {
                return Err(Refusal::Malformed("a GIF without frames".into()));
            }
        }
        Ok(out)
    }
}

/// TIFF through the `tiff` crate directly: image's TIFF encoder writes RGBA without the
/// `ExtraSamples` tag and a `Predictor` tag on uncompressed data, which libtiff reports.
/// Here: LZW (lossless, what scanners write), and alpha declared as unassociated.
mod tiff_out {
    use std::io::Cursor;

    use image::DynamicImage;
    use tiff::encoder::{colortype, Compression, TiffEncoder};
    use tiff::tags::Tag;

    use super::Refusal;

    pub(super) fn encode(img: &DynamicImage, icc: Option<Vec<u8>>) -> Result<Vec<u8>, Refusal> {
        let err = |e: tiff::TiffError| Refusal::Internal(format!("encoding the TIFF: {e}"));
        let mut out = Cursor::new(Vec::new());
        let mut enc = TiffEncoder::new(&mut out)
            .map_err(err)?
            .with_compression(Compression::Lzw);
        let (w, h) = (img.width(), img.height());
        macro_rules! put {
            ($color:ty, $data:expr, $alpha:expr) => {{
                let mut image = enc.new_image::<$color>(w, h).map_err(err)?;
                if $alpha {
                    image
                        .encoder()
                        .write_tag(Tag::ExtraSamples, &[2u16][..])
                        .map_err(err)?;
                }
                if let Some(profile) = &icc {
                    image
                        .encoder()
                        .write_tag(Tag::IccProfile, profile.as_slice())
                        .map_err(err)?;
                }
                image.write_data($data).map_err(err)?
            }};
        }
        match img {
            DynamicImage::ImageLuma8(b) => put!(colortype::Gray8, b.as_raw(), false),
            DynamicImage::ImageLuma16(b) => put!(colortype::Gray16, b.as_raw(), false),
            DynamicImage::ImageRgb8(b) => put!(colortype::RGB8, b.as_raw(), false),
            DynamicImage::ImageRgb16(b) => put!(colortype::RGB16, b.as_raw(), false),
            DynamicImage::ImageRgba16(b) => put!(colortype::RGBA16, b.as_raw(), true),
            other if other.color().has_alpha() => put!(colortype::RGBA8, other.to_rgba8().as_raw(), true),
            other => put!(colortype::RGB8, other.to_rgb8().as_raw(), false),
        }
        Ok(out.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height * 3).map(|i| (i * 7 % 251) as u8).collect();
        let mut out = Vec::new();
        image::codecs::png::PngEncoder::new(&mut out)
            .write_image(&pixels, width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// Rebuild a PNG from its chunks, each with a correct CRC.
    fn chunk(kind: &[u8], data: &[u8]) -> Vec<u8> {
        let mut c = (data.len() as u32).to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut crc = flate2::Crc::new();
        crc.update(&c[4..]);
        c.extend_from_slice(&crc.sum().to_be_bytes());
        c
    }

    fn chunks(png: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut rest = &png[8..];
        let mut out = Vec::new();
        while rest.len() >= 12 {
            let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
            out.push((rest[4..8].to_vec(), rest[8..8 + len].to_vec()));
            rest = &rest[len + 12..];
        }
        out
    }

    fn assemble(parts: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
        let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
        for (k, d) in parts {
            out.extend(chunk(k, d));
        }
        out
    }

    #[test]
    fn an_encoder_written_png_is_exact_and_kept_as_it_is() {
        let p = png(37, 19);
        assert!(png_is_plain(&p, false) && png_checked(&p, u64::MAX).is_some());
        let engine = crate::cdr::Engine::new(crate::config::Config::default());
        let out = engine.run(&p, Some("a.png"));
        assert_eq!(out.output.as_deref(), Some(p.as_slice()), "kept byte for byte");
        // Split over many IDAT chunks, it is still exact.
        let mut parts = chunks(&p);
        let idat = parts.iter().position(|(k, _)| k == b"IDAT").unwrap();
        let data = parts.remove(idat).1;
        for (i, piece) in data.chunks(5).enumerate() {
            parts.insert(idat + i, (b"IDAT".to_vec(), piece.to_vec()));
        }
        assert!(png_checked(&assemble(&parts), u64::MAX).is_some());
    }

    #[test]
    fn bytes_hidden_in_or_after_the_image_data_make_a_png_not_exact() {
        let p = png(37, 19);
        let mut parts = chunks(&p);
        let idat = parts.iter().position(|(k, _)| k == b"IDAT").unwrap();
        // After the zlib stream's end, inside the IDAT chunk.
        parts[idat].1.extend_from_slice(b"<script>alert(1)</script>");
        let hidden = assemble(&parts);
        assert!(png_is_plain(&hidden, false), "its chunks alone look plain");
        assert!(png_checked(&hidden, u64::MAX).is_none());
        let engine = crate::cdr::Engine::new(crate::config::Config::default());
        let out = engine.run(&hidden, Some("a.png")).output.expect("re-encoded");
        assert!(!out.windows(8).any(|w| w == b"<script>"));
        // A stream declaring fewer rows than the header, or a chunk with a wrong CRC.
        let mut short = chunks(&png(37, 19));
        short[0].1[4..8].copy_from_slice(&20u32.to_be_bytes());
        assert!(png_checked(&assemble(&short), u64::MAX).is_none());
        let mut bad = png(37, 19);
        let n = bad.len();
        bad[n - 20] ^= 1;
        assert!(png_checked(&bad, u64::MAX).is_none());
    }

    fn jpeg(width: u32, height: u32) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height * 3).map(|i| (i * 13 % 253) as u8).collect();
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 80)
            .write_image(&pixels, width, height, image::ExtendedColorType::Rgb8)
            .unwrap();
        out
    }

    /// `jpeg` with `segment` (marker, body) inserted after SOI and the JFIF APP0.
    fn with_segment(jpeg: &[u8], marker: u8, body: &[u8]) -> Vec<u8> {
        let app0_end = 4 + usize::from(u16::from_be_bytes([jpeg[4], jpeg[5]]));
        let mut out = jpeg[..app0_end].to_vec();
        out.extend_from_slice(&[0xFF, marker]);
        out.extend_from_slice(&((body.len() + 2) as u16).to_be_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(&jpeg[app0_end..]);
        out
    }

    /// A big-endian EXIF chunk whose IFD0 holds one entry: the orientation.
    fn exif(orientation: u16) -> Vec<u8> {
        let mut e = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
        e.extend_from_slice(&orientation.to_be_bytes());
        e.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        e
    }

    #[test]
    fn jpeg_metadata_is_cut_out_without_touching_the_picture() {
        let plain = jpeg(64, 32);
        let engine = crate::cdr::Engine::new(crate::config::Config::default());
        let tagged = with_segment(&with_segment(&plain, 0xFE, b"camera serial 1234"), 0xE1, &exif(1));
        let out = engine.run(&tagged, Some("photo.jpg"));
        assert_eq!(
            out.output.as_deref(),
            Some(plain.as_slice()),
            "the plain JPEG, to the byte"
        );
        assert_eq!(out.report.findings.len(), 1);
        assert!(out.report.findings[0].detail.contains("cut out"));

        // An orientation that turns the picture: encoded again, turned (32 wide, 64 high).
        let turned = with_segment(&plain, 0xE1, &exif(6));
        let out = engine.run(&turned, Some("photo.jpg")).output.expect("output");
        assert_ne!(out, plain);
        let img = image::load_from_memory(&out).unwrap();
        assert_eq!((img.width(), img.height()), (32, 64));

        // Adobe's colour transform segment is not metadata: encoded again.
        let adobe = with_segment(&plain, 0xEE, b"Adobe\0\x64\0\0\0\0\x00");
        assert!(jpeg_without_metadata(&adobe, false).is_none());
        // Zero padding after EOI is cut with the metadata; other data after EOI never is.
        let mut padded = with_segment(&plain, 0xFE, b"x");
        padded.extend_from_slice(&[0, 0]);
        assert_eq!(jpeg_without_metadata(&padded, false).as_deref(), Some(plain.as_slice()));
        let mut trailer = with_segment(&plain, 0xFE, b"x");
        trailer.extend_from_slice(b"PK\x03\x04 a zip after the picture");
        assert!(jpeg_without_metadata(&trailer, false).is_none());
        let out = engine.run(&trailer, Some("photo.jpg")).output.expect("output");
        assert!(!out.windows(4).any(|w| w == b"PK\x03\x04"));
    }

    #[test]
    fn a_png_a_decoder_would_refuse_is_not_kept() {
        let p = png(5, 3);
        assert_eq!(png_checked(&p, u64::MAX), Some((5, 3, 3)));
        assert_eq!(
            png_checked(&p, 14),
            None,
            "over the pixel limit: left to the decoder, which refuses it"
        );
        let with_data = |rows: &[u8], ihdr: &dyn Fn(&mut Vec<u8>)| {
            let mut parts = chunks(&p);
            ihdr(&mut parts[0].1);
            let idat = parts.iter().position(|(k, _)| k == b"IDAT").unwrap();
            let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            std::io::Write::write_all(&mut z, rows).unwrap();
            parts[idat].1 = z.finish().unwrap();
            assert_eq!(parts.len(), 3, "one IDAT");
            png_checked(&assemble(&parts), u64::MAX)
        };
        let row = |filter: u8| [&[filter][..], &[9u8; 15][..]].concat();
        let good = [row(0), row(4), row(1)].concat();
        assert!(with_data(&good, &|_| {}).is_some());
        // A filter type that does not exist, in the last row.
        assert!(with_data(&[row(0), row(1), row(5)].concat(), &|_| {}).is_none());
        // RGB at 4 bits per sample is not a PNG; a palette picture without a palette neither.
        assert!(with_data(&good, &|h| h[8] = 4).is_none());
        assert!(with_data(&good, &|h| h[9] = 3).is_none());
        // A filter method that does not exist.
        assert!(with_data(&good, &|h| h[11] = 1).is_none());
        // A chunk before the header.
        let mut parts = chunks(&p);
        parts.insert(0, (b"gAMA".to_vec(), 45455u32.to_be_bytes().to_vec()));
        assert!(png_checked(&assemble(&parts), u64::MAX).is_none());
    }

    #[test]
    fn interlaced_sizes_follow_adam7() {
        // 1x1 interlaced: only the first pass has a pixel: one row of filter byte + 3 bytes.
        let mut parts = chunks(&png(1, 1));
        parts[0].1[12] = 1;
        let idat = parts.iter().position(|(k, _)| k == b"IDAT").unwrap();
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut z, &[0, 1, 2, 3]).unwrap();
        parts[idat].1 = z.finish().unwrap();
        assert!(png_checked(&assemble(&parts), u64::MAX).is_some());
    }
}
