// torch-sys links libtorch but does not record where it lives: without an rpath the binary and the
// tests die with "libtorch_cpu.so: cannot open shared object file".
fn main() {
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
