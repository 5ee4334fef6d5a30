//! The model card end to end: `compile` writes it from the ONNX's metadata beside the
//! `.egm` files (all-or-nothing), `inspect` and `sample` use it. The ONNX is the shipped
//! ring8 generator with its metadata edited at the protobuf level (a CSV model's column
//! names and string class names), so no trainer run is needed. No QEMU here.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn firmware_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_firmware-sim"))
        .args(args)
        .output()
        .expect("spawn firmware-sim")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Asserts exit code 2 and a stderr containing `needle`.
fn assert_fails_with(out: &Output, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn ring8() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/ring8-cgan")
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn read_varint(b: &[u8], at: &mut usize) -> u64 {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = b[*at];
        *at += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
    }
    v
}

/// ModelProto field 14: `repeated StringStringEntryProto metadata_props`.
const METADATA_PROPS: u64 = 14;

/// `onnx` with its top-level metadata entries dropped where `keep(key)` is false and
/// `(key, value)` entries appended (a later entry of the same key wins).
fn edit_metadata(onnx: &[u8], keep: impl Fn(&str) -> bool, add: &[(&str, &str)]) -> Vec<u8> {
    let mut out = vec![];
    let mut at = 0;
    while at < onnx.len() {
        let start = at;
        let tag = read_varint(onnx, &mut at);
        match tag & 7 {
            0 => {
                read_varint(onnx, &mut at);
            }
            1 => at += 8,
            5 => at += 4,
            2 => {
                let len = read_varint(onnx, &mut at) as usize;
                let body = &onnx[at..at + len];
                at += len;
                if tag >> 3 == METADATA_PROPS {
                    // the entry's field 1 (key) comes first in what exporters write
                    let mut i = 0;
                    assert_eq!(read_varint(body, &mut i), (1 << 3) | 2);
                    let n = read_varint(body, &mut i) as usize;
                    let key = std::str::from_utf8(&body[i..i + n]).unwrap();
                    if !keep(key) {
                        continue;
                    }
                }
            }
            w => panic!("wire type {w} in a ModelProto"),
        }
        out.extend_from_slice(&onnx[start..at]);
    }
    for (k, v) in add {
        let mut entry = vec![];
        for (field, s) in [(1u64, k), (2, v)] {
            varint((field << 3) | 2, &mut entry);
            varint(s.len() as u64, &mut entry);
            entry.extend_from_slice(s.as_bytes());
        }
        varint((METADATA_PROPS << 3) | 2, &mut out);
        varint(entry.len() as u64, &mut out);
        out.extend_from_slice(&entry);
    }
    out
}

const SITES: [&str; 8] = ["east", "ne", "north", "nw", "west", "sw", "south", "se"];

/// The ring8 generator as if trained on a CSV `east_km,north_km,site`.
fn sites_onnx(dir: &Path) -> PathBuf {
    let bytes = std::fs::read(ring8().join("generator.onnx")).unwrap();
    let names = format!("[{}]", SITES.map(|n| format!("\"{n}\"")).join(","));
    let edited = edit_metadata(
        &bytes,
        |_| true,
        &[
            ("edgegan.class_names", &names),
            ("edgegan.column_names", "[\"east_km\",\"north_km\"]"),
            (
                "edgegan.normalizer",
                "{\"center\":[10.0,-2.0],\"scale\":[4.0,0.5]}",
            ),
        ],
    );
    let path = dir.join("sites.onnx");
    std::fs::write(&path, edited).unwrap();
    path
}

fn compile(onnx: &Path, out_dir: &Path) -> Output {
    firmware_sim(&["compile", s(onnx), "--out-dir", s(out_dir)])
}

fn folder(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let bytes = std::fs::read(e.path()).unwrap_or_default();
            (e.file_name().to_string_lossy().into_owned(), bytes)
        })
        .collect();
    v.sort();
    v
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

#[test]
fn compile_writes_the_card_and_sample_uses_names_and_data_units() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let onnx = sites_onnx(d);
    let out_dir = d.join("device");
    let stdout = ok(&compile(&onnx, &out_dir));
    assert!(stdout.contains("model.toml"), "{stdout}");
    // The .egm bytes are the shipped ones: the metadata does not reach them.
    for f in ["f32", "w8a32", "w8a8"] {
        let name = format!("model.{f}.egm");
        assert!(
            std::fs::read(out_dir.join(&name)).unwrap()
                == std::fs::read(ring8().join(&name)).unwrap(),
            "{name} differs from the shipped one"
        );
    }
    let card = std::fs::read_to_string(out_dir.join("model.toml")).unwrap();
    for needle in [
        "class_names = [\"east\", \"ne\", \"north\"",
        "column_names = [\"east_km\", \"north_km\"]",
        "normalizer = { center = [10.0, -2.0], scale = [4.0, 0.5] }",
        "condition = \"label\"",
        "output_shape = [2]",
        "value_range = [-1.0, 1.0]",
        "[compiled.egm]",
        "w8a8 = { file = \"model.w8a8.egm\"",
    ] {
        assert!(card.contains(needle), "{needle:?} not in:\n{card}");
    }
    let model = out_dir.join("model.w8a8.egm");
    let inspect = ok(&firmware_sim(&["inspect", s(&model)]));
    for needle in ["columns:     east_km, north_km", "    2 north", "    7 se"] {
        assert!(inspect.contains(needle), "{needle:?} not in:\n{inspect}");
    }

    // By name, in data units, with the card's names in the header.
    let csv = d.join("north.csv");
    let sample = |extra: &[&str]| {
        let mut args = vec![
            "sample",
            "--model",
            s(&model),
            "--class",
            "NORTH",
            "--n",
            "3",
            "--out",
            s(&csv),
        ];
        args.extend_from_slice(extra);
        ok(&firmware_sim(&args));
        csv_rows(&csv)
    };
    let data = sample(&[]);
    let raw = sample(&["--raw"]);
    assert_eq!(
        data[0],
        ["seed", "class", "class_name", "east_km", "north_km"]
    );
    assert_eq!(data[1][..3], ["42", "2", "north"]);
    assert_eq!(data.len(), 4);
    for (d, r) in data[1..].iter().zip(&raw[1..]) {
        let (dx, dy): (f32, f32) = (d[3].parse().unwrap(), d[4].parse().unwrap());
        let (rx, ry): (f32, f32) = (r[3].parse().unwrap(), r[4].parse().unwrap());
        assert!(
            (-1.0..=1.0).contains(&rx) && (-1.0..=1.0).contains(&ry),
            "{r:?}"
        );
        assert_eq!((dx, dy), (rx * 4.0 + 10.0, ry * 0.5 - 2.0));
    }

    let out = firmware_sim(&[
        "sample",
        "--model",
        s(&model),
        "--class",
        "up",
        "--out",
        s(&csv),
    ]);
    assert_fails_with(&out, "no class named \"up\"");
    assert_fails_with(&out, "0 east, 1 ne, 2 north");
}

#[test]
fn a_foreign_onnx_gets_a_card_from_the_graph() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let bytes = std::fs::read(ring8().join("generator.onnx")).unwrap();
    let onnx = d.join("foreign.onnx");
    std::fs::write(
        &onnx,
        edit_metadata(&bytes, |k| !k.starts_with("edgegan."), &[]),
    )
    .unwrap();
    let out_dir = d.join("device");
    ok(&compile(&onnx, &out_dir));
    let card = std::fs::read_to_string(out_dir.join("model.toml")).unwrap();
    for needle in [
        "metadata = false",
        "class_names = [\"0\", \"1\", \"2\", \"3\", \"4\", \"5\", \"6\", \"7\"]",
        "column_names = []",
    ] {
        assert!(card.contains(needle), "{needle:?} not in:\n{card}");
    }
    assert!(!card.contains("normalizer ="), "{card}");
    let csv = d.join("x.csv");
    let model = out_dir.join("model.w8a8.egm");
    let stdout = ok(&firmware_sim(&[
        "sample",
        "--model",
        s(&model),
        "--class",
        "3",
        "--n",
        "1",
        "--out",
        s(&csv),
    ]));
    assert!(stdout.contains("network's range"), "{stdout}");
    assert_eq!(
        csv_rows(&csv)[0],
        ["seed", "class", "class_name", "x0", "x1"]
    );
}

#[test]
fn a_failed_compile_leaves_the_previous_set_and_notes_survive_a_recompile() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let onnx = sites_onnx(d);
    let out_dir = d.join("device");
    ok(&compile(&onnx, &out_dir));
    // Notes written above the marker are kept by the next compile.
    let card_path = out_dir.join("model.toml");
    let card = std::fs::read_to_string(&card_path).unwrap();
    std::fs::write(&card_path, format!("name = \"sites\"  # mine\n\n{card}")).unwrap();
    ok(&compile(&onnx, &out_dir));
    let card = std::fs::read_to_string(&card_path).unwrap();
    assert!(card.starts_with("name = \"sites\"  # mine\n"), "{card}");
    assert_eq!(card.matches("[compiled]").count(), 1, "{card}");
    let before = folder(&out_dir);

    let bytes = std::fs::read(&onnx).unwrap();
    let corrupt = d.join("corrupt.onnx");
    std::fs::write(&corrupt, &bytes[..bytes.len() / 2]).unwrap();
    assert_fails_with(&compile(&corrupt, &out_dir), "corrupt.onnx");
    let missing = d.join("missing.onnx");
    assert_fails_with(&compile(&missing, &out_dir), "missing.onnx");
    assert!(folder(&out_dir) == before, "the folder changed");
}

#[test]
fn inspect_and_sample_warn_about_a_mixed_set() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out_dir = d.join("device");
    ok(&compile(&sites_onnx(d), &out_dir));
    let f32 = out_dir.join("model.f32.egm");
    let out = firmware_sim(&["inspect", s(&f32)]);
    ok(&out);
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
    // An .egm from elsewhere (here: the w8a8 file) under the card's f32 name.
    std::fs::copy(out_dir.join("model.w8a8.egm"), &f32).unwrap();
    let out = firmware_sim(&["inspect", s(&f32)]);
    ok(&out);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning:")
            && stderr.contains("is not the file")
            && stderr.contains("mixed set"),
        "{stderr}"
    );
    let out = firmware_sim(&[
        "sample",
        "--model",
        s(&f32),
        "--n",
        "1",
        "--out",
        s(&d.join("x.csv")),
    ]);
    ok(&out);
    assert!(text(&out.stderr).contains("mixed set"));
}

#[test]
fn png_grids_are_scaled_and_bad_view_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let conv = d.join("conv.egm");
    ok(&firmware_sim(&[
        "demo-model",
        "--kind",
        "conv",
        "--out",
        s(&conv),
    ]));
    let png = d.join("g.png");
    let size = |extra: &[&str]| {
        let mut args = vec!["sample", "--model", s(&conv), "--n", "16", "--out", s(&png)];
        args.extend_from_slice(extra);
        ok(&firmware_sim(&args));
        let b = std::fs::read(&png).unwrap();
        // IHDR: width and height, big-endian, at bytes 16..24
        let be = |at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
        (be(16), be(20))
    };
    // 4 x 4 tiles of 8 px, 2 px apart: 42 px at 1x
    assert_eq!(size(&["--scale", "1"]), (42, 42));
    assert_eq!(size(&["--scale", "3"]), (126, 126));
    let (w, _) = size(&[]);
    assert!(w >= 512, "default width {w}");
    assert_fails_with(
        &firmware_sim(&[
            "sample",
            "--model",
            s(&conv),
            "--scale",
            "0",
            "--out",
            s(&png),
        ]),
        "--scale",
    );
    assert_fails_with(
        &firmware_sim(&["sample", "--model", s(&conv), "--rawest", "--out", s(&png)]),
        "--rawest",
    );
}
