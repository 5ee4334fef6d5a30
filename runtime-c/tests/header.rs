//! `include/edgegan.h` is what cbindgen writes for `src/lib.rs` today: a change to the C
//! API that did not regenerate the header fails here. `EDGEGAN_BLESS=1` rewrites it.

use std::path::Path;

#[test]
fn the_checked_in_header_is_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen could not generate the header")
        .write(&mut generated);
    let path = dir.join("include/edgegan.h");
    let checked_in = std::fs::read(&path).unwrap_or_default();
    if checked_in == generated {
        return;
    }
    if std::env::var_os("EDGEGAN_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("writing include/edgegan.h");
        return;
    }
    panic!(
        "include/edgegan.h is out of date with src/lib.rs: regenerate it with \
         `EDGEGAN_BLESS=1 cargo test --release -p edgegan-runtime-c --test header` and \
         commit it"
    );
}
