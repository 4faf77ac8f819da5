//! Choosing the tch device: `auto` takes CUDA when present, else the CPU.

use super::NetError;
use std::sync::OnceLock;
use tch::Device;

/// A binary linked against libtorch's CPU library sees CUDA only once `libtorch_cuda.so` is
/// loaded with global symbols; do that once, when the library is on the search path.
fn load_cuda_runtime() -> bool {
    static LOADED: OnceLock<bool> = OnceLock::new();
    *LOADED.get_or_init(|| {
        use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
        // SAFETY: libtorch_cuda's initialisers only register CUDA kernels with libtorch.
        match unsafe { Library::open(Some("libtorch_cuda.so"), RTLD_NOW | RTLD_GLOBAL) } {
            Ok(lib) => {
                // Kept loaded for the life of the process: libtorch holds pointers into it.
                std::mem::forget(lib);
                tracing::info!("loaded libtorch_cuda.so");
                true
            }
            Err(e) => {
                tracing::debug!("no CUDA runtime: {e}");
                false
            }
        }
    })
}

/// Whether a CUDA device can be used.
pub fn cuda_available() -> bool {
    load_cuda_runtime() && tch::Cuda::is_available()
}

/// Resolves the `general.device` setting.
pub fn select(setting: &str) -> Result<Device, NetError> {
    match setting.trim() {
        "auto" => Ok(if cuda_available() {
            Device::Cuda(0)
        } else {
            Device::Cpu
        }),
        "cpu" => Ok(Device::Cpu),
        other => {
            let index = match other {
                "cuda" => 0,
                _ => other
                    .strip_prefix("cuda:")
                    .and_then(|i| i.parse::<usize>().ok())
                    .ok_or_else(|| NetError::BadDevice(other.to_string()))?,
            };
            if cuda_available() && (index as i64) < tch::Cuda::device_count() {
                Ok(Device::Cuda(index))
            } else {
                Err(NetError::NoCuda(index))
            }
        }
    }
}

/// Human-readable name of a device, as benchmarks print it.
pub fn describe(device: Device) -> String {
    match device {
        Device::Cpu => format!("cpu ({} threads)", tch::get_num_threads()),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_always_there_and_nonsense_is_refused() {
        assert_eq!(select("cpu").expect("cpu"), Device::Cpu);
        assert!(matches!(
            select("auto"),
            Ok(Device::Cpu) | Ok(Device::Cuda(0))
        ));
        assert!(matches!(select("gpu please"), Err(NetError::BadDevice(_))));
    }
}
