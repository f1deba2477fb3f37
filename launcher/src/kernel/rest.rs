//! A process that goes to rest for a long time (the monitor of an idle
//! subhost) gives back the memory its busy start left behind: the free
//! heap glibc keeps, and the pages of its stack below the current frame,
//! which the set-up's deep calls touched once and nothing reads again.
//! Issue 14: every idle subhost's monitor holds these for the subhost's
//! life (about 30 kB of stack and what malloc keeps).

/// Keeps a page below the caller's frame, for what the current calls
/// (and x86-64's red zone) may still use.
const MARGIN: usize = 4096;

/// Gives back the free heap and the unused part of the main thread's
/// stack. Call it from the main thread; errors are ignored (the memory
/// then just stays).
pub fn give_back() {
    // Read first: the text read is freed before the trim.
    let low = stack_low();
    // SAFETY: malloc_trim(3) only releases free heap memory; no pointer
    // the program holds is touched. (musl's allocator gives back on free.)
    #[cfg(target_env = "gnu")]
    unsafe {
        libc::malloc_trim(0)
    };
    let here = 0u8;
    let sp = std::ptr::addr_of!(here) as usize;
    if let Some(low) = low {
        let page = 4096;
        let end = (sp.saturating_sub(MARGIN)) & !(page - 1);
        if end > low {
            // SAFETY: [low, end) lies within the main thread's stack
            // mapping, below the current frame and a page of margin: no
            // live data is there. MADV_DONTNEED only drops the pages; a
            // later call that grows the stack again gets zero pages.
            unsafe { libc::madvise(low as *mut libc::c_void, end - low, libc::MADV_DONTNEED) };
        }
    }
}

/// The lowest address of the main thread's stack mapping (`[stack]` in
/// /proc/self/maps).
fn stack_low() -> Option<usize> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    let line = maps.lines().find(|l| l.ends_with("[stack]"))?;
    let range = line.split_whitespace().next()?;
    usize::from_str_radix(range.split_once('-')?.0, 16).ok()
}
