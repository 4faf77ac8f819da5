//! HEIC/HEIF decoding through the system's libheif, loaded at run time.
//!
//! Phones send HEIC, but libheif is a C library that not every machine has; loading it with
//! `dlopen` keeps the build free of it and lets the same binary decode HEIC wherever it is
//! installed (Debian: `libheif1`). No maintained Rust crate decodes HEVC-in-HEIF natively.

use image::RgbImage;
use libloading::{Library, Symbol};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::OnceLock;

#[repr(C)]
struct RawError {
    code: c_int,
    subcode: c_int,
    message: *const c_char,
}

const COLORSPACE_RGB: c_int = 1;
const CHROMA_INTERLEAVED_RGB: c_int = 10;
const CHANNEL_INTERLEAVED: c_int = 10;

type Ctx = c_void;
type Handle = c_void;
type Img = c_void;

/// Why a HEIF file could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum HeifError {
    #[error(
        "HEIC/HEIF support needs the system library libheif (Debian: apt-get install libheif1)"
    )]
    Unavailable,
    #[error("HEIC/HEIF decoding failed: {0}")]
    Decode(String),
}

struct LibHeif {
    lib: Library,
}

fn library() -> Option<&'static LibHeif> {
    static LIB: OnceLock<Option<LibHeif>> = OnceLock::new();
    LIB.get_or_init(|| {
        for name in ["libheif.so.1", "libheif.so"] {
            // SAFETY: loading libheif runs only its own initialisers, which have no preconditions.
            if let Ok(lib) = unsafe { Library::new(name) } {
                let heif = LibHeif { lib };
                // heif_init loads decoder plugins; older versions lack it and need no call.
                // SAFETY: heif_init(NULL) is the documented way to initialise the library.
                unsafe {
                    if let Ok(init) = heif
                        .lib
                        .get::<unsafe extern "C" fn(*mut c_void) -> RawError>(b"heif_init\0")
                    {
                        init(std::ptr::null_mut());
                    }
                }
                return Some(heif);
            }
        }
        None
    })
    .as_ref()
}

/// Whether libheif could be loaded on this machine.
pub fn available() -> bool {
    library().is_some()
}

fn check(err: RawError) -> Result<(), HeifError> {
    if err.code == 0 {
        return Ok(());
    }
    let message = if err.message.is_null() {
        format!("libheif error {}", err.code)
    } else {
        // SAFETY: libheif returns a NUL-terminated static string in every heif_error.
        unsafe { CStr::from_ptr(err.message) }
            .to_string_lossy()
            .into_owned()
    };
    Err(HeifError::Decode(message))
}

/// Frees libheif objects on every exit path.
struct Guard<'a> {
    heif: &'a LibHeif,
    ctx: *mut Ctx,
    handle: *mut Handle,
    image: *mut Img,
}

impl Drop for Guard<'_> {
    fn drop(&mut self) {
        // SAFETY: each pointer is null or was returned by libheif and is released exactly once.
        unsafe {
            if !self.image.is_null() {
                if let Ok(f) = self
                    .heif
                    .lib
                    .get::<unsafe extern "C" fn(*const Img)>(b"heif_image_release\0")
                {
                    f(self.image);
                }
            }
            if !self.handle.is_null() {
                if let Ok(f) = self
                    .heif
                    .lib
                    .get::<unsafe extern "C" fn(*const Handle)>(b"heif_image_handle_release\0")
                {
                    f(self.handle);
                }
            }
            if !self.ctx.is_null() {
                if let Ok(f) = self
                    .heif
                    .lib
                    .get::<unsafe extern "C" fn(*mut Ctx)>(b"heif_context_free\0")
                {
                    f(self.ctx);
                }
            }
        }
    }
}

fn sym<'a, T>(heif: &'a LibHeif, name: &[u8]) -> Result<Symbol<'a, T>, HeifError> {
    // SAFETY: the caller names the symbol with the signature of libheif's public C API.
    unsafe { heif.lib.get(name) }
        .map_err(|e| HeifError::Decode(format!("libheif lacks a function: {e}")))
}

/// Reads the primary image's size without decoding it, and decodes it only when `accept` agrees.
/// libheif applies the file's rotation and mirroring itself, so the result is upright.
pub fn decode(
    bytes: &[u8],
    accept: impl FnOnce(u32, u32) -> Result<(), String>,
) -> Result<RgbImage, HeifError> {
    let heif = library().ok_or(HeifError::Unavailable)?;
    let alloc = sym::<unsafe extern "C" fn() -> *mut Ctx>(heif, b"heif_context_alloc\0")?;
    let read = sym::<
        unsafe extern "C" fn(*mut Ctx, *const c_void, usize, *const c_void) -> RawError,
    >(heif, b"heif_context_read_from_memory_without_copy\0")?;
    let primary = sym::<unsafe extern "C" fn(*mut Ctx, *mut *mut Handle) -> RawError>(
        heif,
        b"heif_context_get_primary_image_handle\0",
    )?;
    let handle_w = sym::<unsafe extern "C" fn(*const Handle) -> c_int>(
        heif,
        b"heif_image_handle_get_width\0",
    )?;
    let handle_h = sym::<unsafe extern "C" fn(*const Handle) -> c_int>(
        heif,
        b"heif_image_handle_get_height\0",
    )?;
    let decode_image = sym::<
        unsafe extern "C" fn(*const Handle, *mut *mut Img, c_int, c_int, *const c_void) -> RawError,
    >(heif, b"heif_decode_image\0")?;
    let plane = sym::<unsafe extern "C" fn(*const Img, c_int, *mut c_int) -> *const u8>(
        heif,
        b"heif_image_get_plane_readonly\0",
    )?;
    let img_w =
        sym::<unsafe extern "C" fn(*const Img, c_int) -> c_int>(heif, b"heif_image_get_width\0")?;
    let img_h =
        sym::<unsafe extern "C" fn(*const Img, c_int) -> c_int>(heif, b"heif_image_get_height\0")?;

    // SAFETY: calls follow libheif's documented sequence; `bytes` outlives the context (freed by
    // the guard before this function returns); plane reads stay within stride × height.
    unsafe {
        let mut guard = Guard {
            heif,
            ctx: alloc(),
            handle: std::ptr::null_mut(),
            image: std::ptr::null_mut(),
        };
        if guard.ctx.is_null() {
            return Err(HeifError::Decode("out of memory".into()));
        }
        check(read(
            guard.ctx,
            bytes.as_ptr().cast(),
            bytes.len(),
            std::ptr::null(),
        ))?;
        check(primary(guard.ctx, &mut guard.handle))?;
        let (w, h) = (handle_w(guard.handle), handle_h(guard.handle));
        if w <= 0 || h <= 0 {
            return Err(HeifError::Decode(format!("image has no size ({w}×{h})")));
        }
        accept(w as u32, h as u32).map_err(HeifError::Decode)?;
        check(decode_image(
            guard.handle,
            &mut guard.image,
            COLORSPACE_RGB,
            CHROMA_INTERLEAVED_RGB,
            std::ptr::null(),
        ))?;
        let (w, h) = (
            img_w(guard.image, CHANNEL_INTERLEAVED),
            img_h(guard.image, CHANNEL_INTERLEAVED),
        );
        let mut stride: c_int = 0;
        let data = plane(guard.image, CHANNEL_INTERLEAVED, &mut stride);
        if data.is_null() || w <= 0 || h <= 0 || (stride as i64) < (w as i64) * 3 {
            return Err(HeifError::Decode("decoder returned no RGB plane".into()));
        }
        let (w, h, stride) = (w as usize, h as usize, stride as usize);
        let mut out = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            let row = std::slice::from_raw_parts(data.add(y * stride), w * 3);
            out.extend_from_slice(row);
        }
        RgbImage::from_raw(w as u32, h as u32, out)
            .ok_or_else(|| HeifError::Decode("bad plane size".into()))
    }
}
