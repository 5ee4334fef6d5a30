//! The C API from C: `tests/c/api_test.c`, compiled with the system C compiler (`cc`, or
//! `$CC`) against this crate's host static library, feeds every kind of bad input (NULL
//! pointers, short buffers, corrupt models, labels out of range, a small arena) and
//! expects error codes, then samples the shipped ring8-cgan and fashion-inpaint w8a8
//! models; its samples must be bit-identical to the Rust runtime's.

use std::path::{Path, PathBuf};
use std::process::Command;

use edgegan_runtime::{Condition, DeviceModel, Sampler, mask};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The host static library Cargo built for this test run: next to the test binary
/// (`deps/`), the newest `libedgegan_runtime_c-*.a`.
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let deps = exe.parent().expect("deps folder");
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = std::fs::read_dir(deps)
        .expect("reading the deps folder")
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.starts_with("libedgegan_runtime_c-") && name.ends_with(".a")
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    found.sort();
    found
        .pop()
        .map(|(_, p)| p)
        .unwrap_or_else(|| panic!("no libedgegan_runtime_c-*.a in {}", deps.display()))
}

/// Compiles the C test program; a missing C compiler fails with what to install.
fn compile(out: &Path) {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let result = Command::new(&cc)
        .args(["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-pedantic", "-I"])
        .arg(dir.join("include"))
        .arg(dir.join("tests/c/api_test.c"))
        .arg(static_lib())
        // what a Rust std static library needs from the system (rustc --print
        // native-static-libs)
        .args(["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc", "-o"])
        .arg(out)
        .output()
        .unwrap_or_else(|e| {
            panic!("the C compiler `{cc}` is not available ({e}): install gcc (Debian: build-essential)")
        });
    assert!(
        result.status.success(),
        "compiling tests/c/api_test.c failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

fn hex(v: &[f32]) -> String {
    v.iter().map(|x| format!(" {:08x}", x.to_bits())).collect()
}

#[test]
fn bad_input_through_the_c_api_returns_error_codes_and_samples_match_rust() {
    let label_path = repo().join("models/ring8-cgan/model.w8a8.egm");
    let inpaint_path = repo().join("models/fashion-inpaint/model.w8a8.egm");
    let exe = Path::new(env!("CARGO_TARGET_TMPDIR")).join("edgegan_c_api_test");
    compile(&exe);
    let run = Command::new(&exe)
        .arg(&label_path)
        .arg(&inpaint_path)
        .output()
        .expect("running the C test program");
    let stdout = String::from_utf8_lossy(&run.stdout);
    // A crash (a signal) has no exit code; a failed check exits 1 and says which.
    assert_eq!(
        run.status.code(),
        Some(0),
        "the C test program failed ({}):\n{stdout}{}",
        run.status,
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains(" FAILED 0"), "{stdout}");

    // Its samples, bit for bit against the Rust runtime.
    let bytes = std::fs::read(&label_path).unwrap();
    let model = DeviceModel::from_bytes(&bytes).unwrap();
    let mut arena = vec![0u8; model.arena_bytes() + 3];
    let mut s = Sampler::new(&model, &mut arena).unwrap();
    let mut out = vec![0f32; model.output_len()];
    let mut px = vec![0u8; model.output_len()];
    let mut lines = 0;
    for line in stdout.lines() {
        let mut f = line.split(' ');
        match f.next() {
            Some("SAMPLE") => {
                let seed: u64 = f.next().unwrap().parse().unwrap();
                let label: u32 = f.next().unwrap().parse().unwrap();
                s.sample(seed, Condition::Label(label), &mut out).unwrap();
                let want = format!("SAMPLE {seed} {label}{}", hex(&out));
                assert_eq!(line, want, "C and Rust differ");
                lines += 1;
            }
            Some("U8") => {
                let seed: u64 = f.next().unwrap().parse().unwrap();
                let label: u32 = f.next().unwrap().parse().unwrap();
                s.sample_u8(seed, Condition::Label(label), &mut px).unwrap();
                let values: String = px.iter().map(|p| format!(" {p}")).collect();
                assert_eq!(line, format!("U8 {seed} {label}{values}"));
                lines += 1;
            }
            _ => {}
        }
    }
    assert_eq!(lines, 8, "{stdout}");

    let bytes = std::fs::read(&inpaint_path).unwrap();
    let model = DeviceModel::from_bytes(&bytes).unwrap();
    let mut arena = vec![0u8; model.arena_bytes() + 3];
    let mut s = Sampler::new(&model, &mut arena).unwrap();
    let m = model.condition().mask_len();
    let picture: Vec<f32> = (0..m).map(|i| (i % 17) as f32 / 8.0 - 1.0).collect();
    let (mut mk, mut masked) = (vec![0f32; m], vec![0f32; m]);
    let mut out = vec![0f32; model.output_len()];
    let mut inpainted = 0;
    for line in stdout.lines().filter(|l| l.starts_with("INPAINT ")) {
        let mut f = line.split(' ').skip(1);
        let seed: u64 = f.next().unwrap().parse().unwrap();
        let mask_seed: u64 = f.next().unwrap().parse().unwrap();
        mask::fill(
            mask::MIXED,
            mask_seed,
            1,
            28,
            28,
            &picture,
            &mut mk,
            &mut masked,
        );
        let condition = Condition::Mask {
            mask: &mk,
            masked: &masked,
        };
        s.sample(seed, condition, &mut out).unwrap();
        assert_eq!(line, format!("INPAINT {seed} {mask_seed}{}", hex(&out)));
        inpainted += 1;
    }
    assert_eq!(inpainted, 3, "{stdout}");
}
