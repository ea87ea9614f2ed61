//! `[image]`: pictures decoded and encoded again — pixel budget, ICC profiles, GIF frames.

use serde::Deserialize;

use super::{choice, range, ConfigProblem};

#[derive(Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct RawImage {
    /// Largest picture decoded, in pixels (width × height, every frame of an animation).
    max_pixels: u64,
    /// Embedded colour profiles: `remove` (default) or `keep`.
    icc_profile: String,
    /// Animated GIFs: `keep` (default; every frame re-encoded) or `first_frame`.
    gif_animation: String,
}

impl Default for RawImage {
    fn default() -> Self {
        Self {
            max_pixels: 100_000_000,
            icc_profile: "remove".into(),
            gif_animation: "keep".into(),
        }
    }
}

/// Pictures: decoded and encoded again (`cdr/image.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImagePolicy {
    pub max_pixels: u64,
    pub keep_icc_profile: bool,
    pub gif_all_frames: bool,
}

impl RawImage {
    pub(super) fn validate(self, problems: &mut Vec<ConfigProblem>) -> ImagePolicy {
        range(problems, "image.max_pixels", self.max_pixels, 1, 1 << 34);
        ImagePolicy {
            max_pixels: self.max_pixels,
            keep_icc_profile: choice(
                problems,
                "image.icc_profile",
                &self.icc_profile,
                &[("remove", false), ("keep", true)],
            ),
            gif_all_frames: choice(
                problems,
                "image.gif_animation",
                &self.gif_animation,
                &[("keep", true), ("first_frame", false)],
            ),
        }
    }
}
