//! Memory hints. Software prefetch: the heap's tables are far larger than
//! the caches, and walks over them (type propagation, the BFS) touch them
//! at random; asking for a line a few steps ahead overlaps those misses.
//! Prefaulting: tables filled by one thread have their pages zeroed by the
//! kernel on all cores first.

use rayon::prelude::*;

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

/// Reserves room for `n` more elements of `v` and touches each page of it
/// (in parallel) without changing its contents or length.
pub fn prefault<T: Copy + Default + Send>(v: &mut Vec<T>, n: usize) {
    v.reserve_exact(n);
    let per_page = (4096 / std::mem::size_of::<T>().max(1)).max(1);
    v.spare_capacity_mut().par_chunks_mut(per_page * 64).for_each(|c| {
        for page in c.chunks_mut(per_page) {
            page[0].write(T::default());
        }
    });
}
