//! Software prefetch: the heap's tables are far larger than the caches,
//! and walks over them (type propagation, the BFS) touch them at random;
//! asking for a line a few steps ahead overlaps those misses.

/// A hint to the CPU that `x` will be read soon. No effect on other
/// architectures.
#[inline(always)]
pub fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads nothing and changes no memory, and `x` is a
    // valid reference.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((x as *const T).cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}
