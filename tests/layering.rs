//! The core must stay pure: no JS types, no clock, no I/O. This test reads the
//! sources so that a stray import fails `cargo test`, not a code review.

use std::fs;
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).expect("src/core is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn the_core_names_no_js_type_and_reads_no_clock() {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core"), &mut files);
    assert!(files.len() >= 10, "found {} core files", files.len());
    let forbidden = [
        "wasm_bindgen",
        "js_sys",
        "web_sys",
        "SystemTime",
        "Instant::now",
        "std::fs",
        "std::net",
        "getrandom",
        "thread_rng",
    ];
    for file in files {
        let text = fs::read_to_string(&file).expect("readable source");
        for word in forbidden {
            assert!(!text.contains(word), "{} mentions `{word}`: the core must stay pure", file.display());
        }
    }
}
