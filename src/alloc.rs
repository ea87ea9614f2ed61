//! The process allocator: the system allocator, plus transparent huge pages for very large
//! buffers.
//!
//! Why: a rebuilt file is written into one buffer about the input's size. For a 64 MB PDF
//! that is 16,000 page faults of 4 KiB each, which cost as much as copying the bytes. Asking
//! the kernel for 2 MiB pages on such a buffer (`MADV_HUGEPAGE`; honoured when the system's
//! THP mode is `madvise` or `always`) turns them into a few dozen. Small allocations are
//! untouched, and where the advice is unavailable it is simply not given.
//!
//! A leaf: uses nothing of ours.

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at least this large get the huge-page advice.
const HUGE_FROM: usize = 16 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// The system allocator with huge-page advice for buffers of 16 MiB and more.
pub struct LargeBuffers;

// SAFETY: every call is forwarded to `System` unchanged; the advice only changes how the
// kernel backs pages the allocation already owns, never their contents or ownership.
unsafe impl GlobalAlloc for LargeBuffers {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        advise(p, layout.size());
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        advise(p, new_size);
        p
    }
}

/// Advise huge pages for the 2 MiB-aligned interior of `[p, p + len)`.
fn advise(p: *mut u8, len: usize) {
    #[cfg(target_os = "linux")]
    if !p.is_null() && len >= HUGE_FROM {
        let start = (p as usize).next_multiple_of(HUGE_PAGE);
        let end = (p as usize + len) & !(HUGE_PAGE - 1);
        if end > start {
            // SAFETY: the range lies inside the allocation just made; MADV_HUGEPAGE neither
            // reads nor changes memory, and a failure (no THP support) is harmless.
            unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (p, len, HUGE_FROM, HUGE_PAGE);
}

/// Keep freed memory for the next message instead of giving it back at once (glibc only).
///
/// Why: the daemon handles a stream of messages whose buffers (a decoded attachment, its
/// rebuilt copy, the rebuilt mail) are a few hundred KiB to a few MiB. glibc serves those
/// from fresh `mmap`s or trims them off the heap as soon as they are freed, so every message
/// pays its page faults again (6-8 % of the CPU of the SMTP load benchmark). Fixed
/// thresholds keep buffers under 16 MiB on the heap (larger ones still get their own
/// mapping and huge pages, see above) and trim only above 32 MiB of free space; the arenas
/// are capped at the core count, so what is kept stays bounded.
pub fn tune_for_daemon() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        // SAFETY: mallopt only changes allocator parameters; it is called at start-up,
        // before the runtime's threads exist.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, HUGE_FROM as libc::c_int);
            libc::mallopt(libc::M_TRIM_THRESHOLD, (2 * HUGE_FROM) as libc::c_int);
            libc::mallopt(libc::M_ARENA_MAX, libc::c_int::try_from(cores).unwrap_or(2));
        }
    }
}
