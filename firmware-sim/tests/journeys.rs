//! The README's "Your own data", end to end through both command lines (issue 16): each
//! journey makes its data in the test (a picture folder of named grey classes, RGB
//! pictures at another size, a CSV with string labels and named columns), then runs only
//! commands and flags that section shows: `edgegan-train config --example`, `train` (its
//! evaluation numbers), `sample`, `export`; `firmware-sim compile`, `inspect`, `sample
//! --class NAME` (data units for the CSV) and `run` in QEMU, bit-identical to the host.
//!
//! `edgegan-train` is another package's binary: `cargo test --workspace` (or `-p
//! edgegan-train -p firmware-sim`) builds it beside this test's; when it is missing or
//! older than its sources, the test has cargo build it there. QEMU and the Rust targets come from `scripts/setup.sh`; without them the QEMU
//! step fails saying so (nothing is skipped).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// The newest modification time of the files under `path`.
fn newest(path: &Path) -> SystemTime {
    let own = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    match std::fs::read_dir(path) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| newest(&e.path()))
            .fold(own, SystemTime::max),
        Err(_) => own,
    }
}

/// The `edgegan-train` binary of this workspace, in this test's target folder and
/// profile. `cargo test --workspace` (or `-p edgegan-train -p firmware-sim`) has just
/// built it; when it is missing or older than the sources it is built from, cargo
/// builds it here (features as for `-p edgegan-train`).
fn trainer_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // <target>/<profile>/deps/journeys-<hash>
        let exe = std::env::current_exe().expect("the test binary's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test binary sits in <target>/<profile>/deps");
        let bin = profile_dir.join(format!("edgegan-train{}", std::env::consts::EXE_SUFFIX));
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let sources = ["trainer", "runtime", "compiler", "Cargo.lock"]
            .iter()
            .map(|p| newest(&root.join(p)))
            .fold(SystemTime::UNIX_EPOCH, SystemTime::max);
        let built = std::fs::metadata(&bin).and_then(|m| m.modified()).ok();
        if built.is_some_and(|t| t >= sources) {
            return bin;
        }
        let target = profile_dir.parent().expect("<target>");
        let profile = profile_dir
            .file_name()
            .and_then(|p| p.to_str())
            .expect("<profile>");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(&root)
            .args(["build", "-p", "edgegan-train", "--bin", "edgegan-train"])
            .arg("--target-dir")
            .arg(target);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        let out = common::run_limited(cmd, Duration::from_secs(3600));
        assert!(
            out.status.success(),
            "building edgegan-train for the journeys failed:\n{}",
            text(&out.stderr)
        );
        bin
    })
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Runs `program args` in `dir`; asserts success and returns stdout.
fn ok_in(dir: &Path, program: &Path, args: &[&str], limit: Duration) -> String {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir).args(args);
    let out: Output = common::run_limited(cmd, limit);
    assert!(
        out.status.success(),
        "{} {args:?} failed\nstdout: {}\nstderr: {}",
        program.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `edgegan-train args` in `dir` (stdout).
fn train(dir: &Path, args: &[&str]) -> String {
    ok_in(dir, trainer_binary(), args, Duration::from_secs(600))
}

/// `firmware-sim args` in `dir` (stdout); QEMU runs (a firmware build) get longer.
fn sim(dir: &Path, args: &[&str]) -> String {
    let limit = if args.first() == Some(&"run") {
        1200
    } else {
        120
    };
    let bin = Path::new(env!("CARGO_BIN_EXE_firmware-sim"));
    ok_in(dir, bin, args, Duration::from_secs(limit))
}

/// `edgegan-train config --example name` with `edit` applied, written to `dir/file`.
fn example_config(dir: &Path, name: &str, file: &str, edit: &[(&str, toml::Value)]) {
    let example = train(dir, &["config", "--example", name]);
    let mut config: toml::Table = toml::from_str(&example).expect("the example is TOML");
    for (key, value) in edit {
        let mut table = &mut config;
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().expect("a key");
        for part in parts {
            table = table
                .get_mut(part)
                .and_then(toml::Value::as_table_mut)
                .unwrap_or_else(|| panic!("the {name} example has no [{part}]"));
        }
        table.insert(last.to_string(), value.clone());
    }
    std::fs::write(dir.join(file), toml::to_string(&config).expect("TOML")).unwrap();
}

fn int(v: i64) -> toml::Value {
    toml::Value::Integer(v)
}

fn ints(v: &[i64]) -> toml::Value {
    toml::Value::Array(v.iter().map(|&i| int(i)).collect())
}

/// A small run of the image examples: a few hundred steps of small conv networks.
fn small_image_run(dir: &str, size: i64, g_channels: &[i64]) -> Vec<(&'static str, toml::Value)> {
    vec![
        ("steps", int(300)),
        ("batch_size", int(32)),
        ("log_every", int(100)),
        ("checkpoint_every", int(300)),
        ("grid_every", int(300)),
        ("data.dir", toml::Value::String(dir.into())),
        ("data.image_size", ints(&[size, size])),
        ("generator.noise_dim", int(8)),
        ("generator.embedding_dim", int(4)),
        ("generator.channels", ints(g_channels)),
        ("discriminator.channels", ints(&[8, 16])),
    ]
}

/// `root/<class>/NNN.png`: `per_class` pictures of each class's shape (`circle`, `cross`,
/// `square`; in colour each shape has its own hue) at a jittered place and size, on a
/// noisy background.
fn shapes(root: &Path, per_class: u32, size: u32, rgb: bool) {
    for class in ["circle", "cross", "square"] {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let c = size as f32 / 2.0 + (i % 3) as f32 - 1.0;
            let r = size as f32 / 4.0 + (i % 2) as f32;
            let img = image::RgbImage::from_fn(size, size, |x, y| {
                let (dx, dy) = (x as f32 + 0.5 - c, y as f32 + 0.5 - c);
                let on = match class {
                    "circle" => ((dx * dx + dy * dy).sqrt() - r).abs() < 1.0,
                    "cross" => (dx.abs() < 1.0 || dy.abs() < 1.0) && dx.abs().max(dy.abs()) < r,
                    _ => (dx.abs().max(dy.abs()) - r).abs() < 1.0,
                };
                let noise = ((x * 7 + y * 13 + i * 29) % 23) as u8;
                let v = if on { 230 - noise } else { noise };
                image::Rgb(match (rgb, class) {
                    (false, _) => [v; 3],
                    (true, "circle") => [v, v / 4, noise],
                    (true, "cross") => [noise, v, v / 4],
                    (true, _) => [v / 4, noise, v],
                })
            });
            img.save(dir.join(format!("{i:03}.png"))).unwrap();
        }
    }
}

/// Asserts the lines of an image run's evaluation, as the README shows them.
fn assert_image_evaluation(printed: &str) {
    for needle in [
        "evaluation classifier: held-out accuracy",
        "generated vs held-out  FD",
        "real vs held-out (floor) FD",
        "label accuracy",
    ] {
        assert!(printed.contains(needle), "{needle:?} not in:\n{printed}");
    }
}

/// The firmware in QEMU on m4-small, every sample bit-identical to the host.
fn assert_qemu_bit_identical(dir: &Path, model: &str, class: &str) {
    let printed = sim(
        dir,
        &[
            "run",
            "--model",
            model,
            "--profile",
            "m4-small",
            "--class",
            class,
            "--n",
            "4",
        ],
    );
    assert!(
        printed.contains("samples:      4 from the firmware, bit-identical to the host runtime"),
        "{printed}"
    );
    println!("{printed}");
}

/// PNG width and height.
fn png_size(path: &Path) -> (u32, u32) {
    image::image_dimensions(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The grey and RGB picture journeys share everything after `train`: sample by name on
/// the host, export, compile, inspect, sample by name on the device side, QEMU.
fn pictures_to_device(dir: &Path, run: &str, class: &str, size: u32) {
    let d = dir;
    let run_dir = d.join(run);
    train(
        d,
        &[
            "sample", "--run", run, "--label", class, "-n", "10", "--png", "host.png",
        ],
    );
    assert!(d.join("host.png").is_file());
    let onnx = format!("{run}/generator.onnx");
    let device = format!("{run}/device");
    train(d, &["export", "--run", run, "--out", &onnx]);
    sim(d, &["compile", &onnx, "--out-dir", &device]);
    let card = std::fs::read_to_string(run_dir.join("device/model.toml")).unwrap();
    assert!(
        card.contains(r#"class_names = ["circle", "cross", "square"]"#),
        "{card}"
    );
    let model = format!("{device}/model.w8a8.egm");
    let printed = sim(d, &["inspect", &model]);
    for needle in ["0 circle", "1 cross", "2 square"] {
        assert!(printed.contains(needle), "{needle:?} not in:\n{printed}");
    }
    // by name: 16 tiles of one class, about square, scaled up for viewing
    sim(
        d,
        &[
            "sample",
            "--model",
            &model,
            "--class",
            class,
            "--n",
            "16",
            "--out",
            "device.png",
        ],
    );
    let tile = size + 2;
    let (w, h) = png_size(&d.join("device.png"));
    assert!(w >= 512 && w % (4 * tile + 2) == 0, "{w} x {h}");
    assert_eq!(h, w, "4 x 4 tiles");
    // no class: one labelled row per class (two samples each), drawn 1:1
    sim(
        d,
        &[
            "sample", "--model", &model, "--n", "6", "--scale", "1", "--out", "rows.png",
        ],
    );
    assert_eq!(png_size(&d.join("rows.png")), (2 * tile + 2, 3 * tile + 2));
    assert_qemu_bit_identical(d, &model, class);
}

#[test]
fn journey_grey_picture_folder_with_named_classes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    shapes(&d.join("pictures"), 60, 16, false);
    example_config(
        d,
        "image_folder",
        "mine.toml",
        &small_image_run("pictures", 16, &[16, 8]),
    );
    let printed = train(d, &["train", "--config", "mine.toml", "--out", "runs/mine"]);
    assert_image_evaluation(&printed);
    let info = std::fs::read_to_string(d.join("runs/mine/run.json")).unwrap();
    assert!(info.contains(r#""circle""#), "{info}");
    assert!(d.join("runs/mine/samples/step-0000300.png").is_file());
    pictures_to_device(d, "runs/mine", "cross", 16);
}

#[test]
fn journey_rgb_pictures_at_another_size() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    shapes(&d.join("photos"), 60, 12, true);
    let mut edit = small_image_run("photos", 12, &[16, 8]);
    edit.push(("data.channels", int(3)));
    example_config(d, "image_folder_rgb", "rgb.toml", &edit);
    let printed = train(
        d,
        &["train", "--config", "rgb.toml", "--out", "runs/photos"],
    );
    assert_image_evaluation(&printed);
    // the run trained its own classifier of 3-channel 12 x 12 pictures
    assert!(printed.contains("(runs/photos/classifier)"), "{printed}");
    pictures_to_device(d, "runs/photos", "square", 12);
}

/// The CSV's clusters: (label, east_km, north_km) around which rows are drawn.
const SITES: [(&str, f32, f32); 3] = [
    ("north", 0.0, 3.0),
    ("south", 0.0, -3.0),
    ("east", 3.0, 0.0),
];

#[test]
fn journey_csv_with_string_labels_and_named_columns() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut csv = String::from("east_km,north_km,site\n");
    for i in 0..600u32 {
        let (site, x, y) = SITES[(i % 3) as usize];
        // a deterministic spread of about ±0.2 km
        let jitter = |k: u32| ((i * k) % 41) as f32 / 100.0 - 0.2;
        csv.push_str(&format!("{},{},{site}\n", x + jitter(7), y + jitter(13)));
    }
    std::fs::write(d.join("points.csv"), csv).unwrap();
    example_config(
        d,
        "csv",
        "points.toml",
        &[
            ("steps", int(1500)),
            ("batch_size", int(64)),
            ("log_every", int(100)),
            ("checkpoint_every", int(1500)),
            ("data.label_column", toml::Value::String("site".into())),
            ("generator.hidden", ints(&[32, 32])),
            ("discriminator.hidden", ints(&[32, 32])),
        ],
    );
    let printed = train(
        d,
        &["train", "--config", "points.toml", "--out", "runs/points"],
    );
    assert!(printed.contains("KS"), "evaluation numbers:\n{printed}");
    assert!(d.join("runs/points/plots/samples.png").is_file());

    let host = train(
        d,
        &[
            "sample",
            "--run",
            "runs/points",
            "--label",
            "north",
            "-n",
            "5",
            "--header",
        ],
    );
    assert_eq!(
        host.lines().next(),
        Some("east_km,north_km,class"),
        "{host}"
    );

    train(
        d,
        &[
            "export",
            "--run",
            "runs/points",
            "--out",
            "runs/points/generator.onnx",
        ],
    );
    sim(
        d,
        &[
            "compile",
            "runs/points/generator.onnx",
            "--out-dir",
            "runs/points/device",
        ],
    );
    let model = "runs/points/device/model.w8a8.egm";
    let rows = |file: &str, extra: &[&str]| -> Vec<(String, f32, f32)> {
        let mut args = vec![
            "sample", "--model", model, "--class", "north", "--n", "50", "--out", file,
        ];
        args.extend_from_slice(extra);
        sim(d, &args);
        let written = std::fs::read_to_string(d.join(file)).unwrap();
        let mut lines = written.lines();
        assert_eq!(
            lines.next(),
            Some("seed,class,class_name,east_km,north_km"),
            "{written}"
        );
        lines
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                assert_eq!(c.len(), 5, "{l}");
                (
                    c[2].to_string(),
                    c[3].parse().expect("east_km"),
                    c[4].parse().expect("north_km"),
                )
            })
            .collect()
    };
    let units = rows("north.csv", &[]);
    let raw = rows("north-raw.csv", &["--raw"]);
    assert_eq!(units.len(), 50);
    assert!(units.iter().all(|(name, _, _)| name == "north"));
    // the network's range is about [-0.9, 0.9]; data units are the CSV's kilometres
    assert!(
        raw.iter()
            .all(|&(_, x, y)| x.abs() <= 1.0 && y.abs() <= 1.0)
    );
    let mean_north = units.iter().map(|r| r.2).sum::<f32>() / units.len() as f32;
    let mean_east = units.iter().map(|r| r.1).sum::<f32>() / units.len() as f32;
    assert!(
        (mean_north - 3.0).abs() < 0.75 && mean_east.abs() < 0.75,
        "class north samples at ({mean_east}, {mean_north}) km, the data's cluster at (0, 3)"
    );
    for ((_, ux, uy), (_, rx, ry)) in units.iter().zip(&raw) {
        assert!(ux != rx && uy != ry, "data units differ from raw values");
    }
    assert_qemu_bit_identical(d, model, "north");
}
