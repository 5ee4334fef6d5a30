//! The `edgegan-train` binary end to end: a tiny run, resume, eval, sample, and the
//! bad-input cases that must exit with code 2 and a message naming the problem.

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_edgegan-train"))
}

fn run(args: &[&str], cwd: &Path) -> Output {
    run_with_env(args, cwd, &[])
}

fn run_with_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    bin()
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .output()
        .expect("failed to start edgegan-train")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tiny_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("tiny.toml");
    std::fs::write(
        &path,
        "steps = 20\nbatch_size = 16\nlog_every = 5\ncheckpoint_every = 10\n\
         [generator]\nhidden = [8]\n[discriminator]\nhidden = [8]\n",
    )
    .unwrap();
    path
}

/// `train` on [`tiny_config`] into `dir/out`, with `extra` flags.
fn train_tiny(dir: &Path, out: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let cfg = tiny_config(dir);
    let mut args = vec!["train", "--config", cfg.to_str().unwrap(), "--out", out];
    args.extend_from_slice(extra);
    run_with_env(&args, dir, env)
}

#[test]
fn train_resume_eval_and_sample_work_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = train_tiny(dir.path(), "r", &["-q"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("modes captured"), "{stdout}");
    assert!(dir.path().join("r/eval.json").is_file());

    let out = run(
        &["train", "--resume", "r", "--steps", "30", "-q"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("r/checkpoints/step-0000030").is_dir());

    let out = run(&["eval", "--run", "r", "--samples", "100"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("step 30"));

    let out = run(
        &["sample", "--run", "r", "-n", "3", "--label", "2"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3);
    for line in text.lines() {
        let cells: Vec<f32> = line.split(',').map(|c| c.parse().unwrap()).collect();
        assert_eq!(cells.len(), 2);
    }
}

/// `--device gpu` trains through wgpu (Mesa's lavapipe in CI), the run resumes on the
/// CPU from the GPU's checkpoint, and samples; an unknown device is refused.
#[test]
fn train_on_the_gpu_then_resume_on_the_cpu() {
    let dir = tempfile::tempdir().unwrap();
    let out = train_tiny(dir.path(), "r", &["--device", "gpu"], &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("on software GPU") || err.contains("on GPU"),
        "{err}"
    );
    let config = std::fs::read_to_string(dir.path().join("r/config.toml")).unwrap();
    assert!(config.contains("device = \"gpu\""), "{config}");

    let out = run(
        &["train", "--resume", "r", "--steps", "30", "--device", "cpu"],
        dir.path(),
    );
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("resuming") && err.contains("on CPU (flex)"),
        "{err}"
    );
    assert!(dir.path().join("r/checkpoints/step-0000030").is_dir());
    let out = run(&["sample", "--run", "r", "-n", "2"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);

    let out = run(&["train", "--device", "tpu", "--out", "x"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown device `tpu`"),
        "{}",
        stderr(&out)
    );
    std::fs::write(dir.path().join("tpu.toml"), "device = \"tpu\"\n").unwrap();
    let out = run(&["train", "--config", "tpu.toml", "--out", "x"], dir.path());
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("tpu.toml") && err.contains("tpu"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!dir.path().join("x").exists());
}

/// A machine without a GPU driver: `--device gpu` is one sentence naming the remedy,
/// exit 2, no run folder; `--device auto` trains on the CPU. The Vulkan loader and EGL
/// are pointed at nothing so wgpu finds no adapter, as on such a machine.
#[test]
fn without_a_gpu_driver_gpu_is_refused_and_auto_uses_the_cpu() {
    let no_driver = [
        ("VK_ICD_FILENAMES", "/nonexistent/icd.json"),
        ("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent/egl.json"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let out = train_tiny(dir.path(), "g", &["--device", "gpu"], &no_driver);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no usable GPU") && err.contains("--device cpu"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(!dir.path().join("g").exists());
    let out = train_tiny(dir.path(), "a", &["--device", "auto"], &no_driver);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("on CPU (flex)"), "{err}");
}

#[test]
fn bad_inputs_exit_with_code_2_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path());

    let out = run(&["train", "--config", "nope.toml", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.toml"), "{}", stderr(&out));

    std::fs::write(dir.path().join("bad.toml"), "[data]\nkind = \"mnist9\"\n").unwrap();
    let out = run(&["train", "--config", "bad.toml", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.toml") && stderr(&out).contains("mnist9"),
        "{}",
        stderr(&out)
    );

    std::fs::write(dir.path().join("data.csv"), "a,b\n1,2\n3,x\n").unwrap();
    let out = run(
        &[
            "train",
            "--dataset",
            "csv",
            "--unconditional",
            "--csv",
            "data.csv",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(
        e.contains("data.csv") && e.contains("line 3") && e.contains("`b`"),
        "{e}"
    );

    let out = run(
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "r",
            "-q",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let before = std::fs::read(dir.path().join("r/config.toml")).unwrap();
    let out = run(
        &[
            "train",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            "r",
            "-q",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
    assert_eq!(
        std::fs::read(dir.path().join("r/config.toml")).unwrap(),
        before
    );

    let out = run(&["sample", "--run", "r", "--label", "8"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("out of range"), "{}", stderr(&out));

    let out = run(&["train", "--resume", "r", "-q"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already at step 20"),
        "{}",
        stderr(&out)
    );

    let g = dir
        .path()
        .join("r/checkpoints/step-0000020/discriminator.bpk");
    std::fs::write(&g, b"garbage").unwrap();
    let out = run(
        &["train", "--resume", "r", "--steps", "40", "-q"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("discriminator.bpk"),
        "{}",
        stderr(&out)
    );
    // the failed resume overwrote nothing: the step-20 checkpoint is still the latest
    let latest = std::fs::read_to_string(dir.path().join("r/checkpoints/latest")).unwrap();
    assert_eq!(latest.trim(), "step-0000020");

    let out = run(&["eval", "--run", "nowhere"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nowhere"), "{}", stderr(&out));
}

/// IDX bytes (unsigned byte values) for the given dims.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A tiny MNIST-format dataset: 8x8 pictures of two classes (left or right half bright).
fn tiny_idx(dir: &Path, train: usize, test: usize) {
    let pictures = |n: usize| -> (Vec<u8>, Vec<u8>) {
        let mut px = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let class = i % 2;
            for p in 0..64 {
                let bright = (p % 8 < 4) == (class == 0);
                px.push(if bright { 220 } else { (i * 7 % 30) as u8 });
            }
            labels.push(class as u8);
        }
        (px, labels)
    };
    let (px, l) = pictures(train);
    std::fs::write(
        dir.join("train-images-idx3-ubyte"),
        idx(&[train as u32, 8, 8], &px),
    )
    .unwrap();
    std::fs::write(
        dir.join("train-labels-idx1-ubyte"),
        idx(&[train as u32], &l),
    )
    .unwrap();
    let (px, l) = pictures(test);
    std::fs::write(
        dir.join("t10k-images-idx3-ubyte"),
        idx(&[test as u32, 8, 8], &px),
    )
    .unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), idx(&[test as u32], &l)).unwrap();
}

#[test]
fn image_pipeline_classifier_train_eval_ship_sample_and_score_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    tiny_idx(&data, 64, 16);
    let d = data.to_str().unwrap();
    let out = run(
        &[
            "classifier",
            "--dataset",
            "idx",
            "--data-dir",
            d,
            "--out",
            "clf",
            "--epochs",
            "2",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("held-out accuracy"));
    std::fs::write(
        dir.path().join("conv.toml"),
        "steps = 6\nbatch_size = 8\nlog_every = 2\ncheckpoint_every = 3\ngrid_every = 3\n\
         [data]\nkind = \"idx\"\nconditional = true\n\
         [generator]\narch = \"conv\"\nnoise_dim = 4\nembedding_dim = 3\nchannels = [8, 4]\n\
         [discriminator]\narch = \"conv\"\nembedding_dim = 2\nchannels = [4, 8]\n",
    )
    .unwrap();
    let out = run(
        &[
            "train",
            "--config",
            "conv.toml",
            "--data-dir",
            d,
            "--classifier",
            "clf",
            "--out",
            "r",
            "--quiet",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(printed.contains("label accuracy"), "{printed}");
    assert!(printed.contains("B int8"), "the model size is printed");
    for f in [
        "r/samples/step-0000003.png",
        "r/samples/step-0000006.png",
        "r/eval.json",
    ] {
        assert!(dir.path().join(f).is_file(), "{f} missing");
    }
    let out = run(&["eval", "--run", "r", "--classifier", "clf"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["ship", "--run", "r", "--out", "model"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    for f in ["generator.onnx", "config.toml", "generator.bpk"] {
        assert!(dir.path().join("model").join(f).is_file(), "{f} missing");
    }
    let out = run(
        &[
            "sample", "--run", "r", "--label", "1", "-n", "3", "--png", "s.png",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("s.png").is_file());

    // score: good rows work; a bad cell is exit 2 naming the file, row and column
    let row = |class: &str, v: &str| format!("1,{class}{}\n", format!(",{v}").repeat(64));
    let header = format!(
        "seed,class{}\n",
        (0..64).map(|i| format!(",x{i}")).collect::<String>()
    );
    std::fs::write(
        dir.path().join("ok.csv"),
        // six rows: precision, recall, density and coverage need k + 1 = 6 samples
        format!(
            "{header}{}{}{}{}{}{}",
            row("0", "-1"),
            row("1", "0.5"),
            row("0", "-0.5"),
            row("1", "0.25"),
            row("0", "0.75"),
            row("1", "-0.25")
        ),
    )
    .unwrap();
    let score = |file: &str| {
        run(
            &[
                "score",
                "--samples",
                file,
                "--dataset",
                "idx",
                "--data-dir",
                d,
                "--classifier",
                "clf",
            ],
            dir.path(),
        )
    };
    let out = score("ok.csv");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("label accuracy"));
    std::fs::write(
        dir.path().join("bad.csv"),
        format!("{header}{}", row("0", "oops")),
    )
    .unwrap();
    let out = score("bad.csv");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.csv") && stderr(&out).contains("oops"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        dir.path().join("class.csv"),
        format!("{header}{}", row("7", "0")),
    )
    .unwrap();
    let out = score("class.csv");
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("class 7"), "{}", stderr(&out));
    // issue 12: three samples gave a precision and coverage of 1.000
    std::fs::write(
        dir.path().join("three.csv"),
        format!(
            "{header}{}{}{}",
            row("0", "0.1"),
            row("1", "-0.3"),
            row("0", "0.9")
        ),
    )
    .unwrap();
    let out = score("three.csv");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("3 samples") && stderr(&out).contains("need at least 6"),
        "{}",
        stderr(&out)
    );

    // issue 12: a classifier with no held-out images printed "accuracy 0.0000"
    let none_held_out = dir.path().join("data0");
    std::fs::create_dir(&none_held_out).unwrap();
    tiny_idx(&none_held_out, 64, 0);
    let out = run(
        &[
            "classifier",
            "--dataset",
            "idx",
            "--data-dir",
            none_held_out.to_str().unwrap(),
            "--out",
            "clf0",
            "--epochs",
            "1",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no held-out (test) images"),
        "{}",
        stderr(&out)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("accuracy 0.0000"));
}

#[test]
fn image_data_problems_exit_with_code_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        &[
            "train",
            "--dataset",
            "idx",
            "--data-dir",
            "/nonexistent/idx",
            "--out",
            "r",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("setup.sh"),
        "{err}"
    );
    // truncated image file
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    tiny_idx(&data, 8, 4);
    let path = data.join("train-images-idx3-ubyte");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    let out = run(
        &[
            "classifier",
            "--dataset",
            "idx",
            "--data-dir",
            data.to_str().unwrap(),
            "--out",
            "c",
        ],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("train-images-idx3-ubyte") && err.contains("truncated"),
        "{err}"
    );
    // inpainting needs a conv generator: a config error naming the file
    std::fs::write(
        dir.path().join("m.toml"),
        "[data]\nkind = \"idx\"\nconditional = false\nmasks = \"rect\"\n",
    )
    .unwrap();
    let out = run(&["train", "--config", "m.toml"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("m.toml") && err.contains("conv"), "{err}");
}

// ---- your own data (issue 16): the three journeys of the README's "Your own data" ----

/// `root/<class>/NN.png`: `per_class` tiny pictures of each class, each class its own
/// pattern (a bright top half, left half or diagonal) with per-picture noise.
fn picture_folder(root: &Path, classes: &[&str], per_class: usize, rgb: bool, size: u32) {
    for (k, class) in classes.iter().enumerate() {
        let dir = root.join(class);
        std::fs::create_dir_all(&dir).unwrap();
        for i in 0..per_class {
            let img = image::RgbImage::from_fn(size, size, |x, y| {
                let bright = match k {
                    0 => y < size / 2,
                    1 => x < size / 2,
                    _ => x.abs_diff(y) < 3,
                };
                let noise = ((i as u32 * 37 + x * 11 + y * 5) % 40) as u8;
                let v = if bright { 200 + noise / 2 } else { noise };
                // RGB classes also differ in colour
                image::Rgb(if rgb {
                    [v, v / (k as u8 + 1), 255 - v]
                } else {
                    [v; 3]
                })
            });
            img.save(dir.join(format!("{i:02}.png"))).unwrap();
        }
    }
}

/// A tiny conv config for pictures of `size` px (one x2 upsample: size / 2 maps).
fn picture_config(dir: &Path, name: &str, data: &str) -> String {
    std::fs::write(
        dir.join(name),
        format!(
            "steps = 4\nbatch_size = 8\nlog_every = 2\ncheckpoint_every = 2\ngrid_every = 2\n\
             [data]\nkind = \"image_folder\"\nconditional = true\n{data}\n\
             [generator]\narch = \"conv\"\nnoise_dim = 4\nembedding_dim = 3\nchannels = [8, 4]\n\
             [discriminator]\narch = \"conv\"\nembedding_dim = 2\nchannels = [4, 8]\n"
        ),
    )
    .unwrap();
    name.to_string()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn own_grey_picture_folder_train_evaluate_export_ship_and_sample_by_name() {
    let dir = tempfile::tempdir().unwrap();
    picture_folder(
        &dir.path().join("pictures"),
        &["shoe", "bag", "shirt"],
        14,
        false,
        12,
    );
    let cfg = picture_config(
        dir.path(),
        "grey.toml",
        "dir = \"pictures\"\nchannels = 1\nimage_size = [12, 12]",
    );
    // -q: no run header, but the result (model size, evaluation) is printed
    let out = run(&["train", "--config", &cfg, "--out", "r", "-q"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let (printed, err) = (stdout(&out), stderr(&out));
    assert!(!err.contains("run r:"), "-q printed the run header: {err}");
    assert!(
        printed.contains("B int8"),
        "the model size is printed: {printed}"
    );
    // no classifier fits three 12x12 classes: one is trained, and the run ends with numbers
    assert!(
        err.contains("training one")
            && printed.contains("evaluation classifier: held-out accuracy"),
        "{err}\n{printed}"
    );
    assert!(printed.contains("generated vs held-out"), "{printed}");
    assert!(
        printed.contains("held-out images (fewer than 128"),
        "{printed}"
    );
    let info: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r/run.json")).unwrap()).unwrap();
    assert_eq!(
        info["class_names"],
        serde_json::json!(["bag", "shirt", "shoe"])
    );
    assert!(
        info["classifier"]
            .as_str()
            .unwrap()
            .ends_with("r/classifier"),
        "{info}"
    );
    let config = std::fs::read_to_string(dir.path().join("r/config.toml")).unwrap();
    assert!(
        !config.contains("means") && !config.contains("hidden"),
        "{config}"
    );
    let abs = dir.path().join("pictures");
    assert!(
        config.contains(abs.to_str().unwrap()),
        "data.dir is absolute: {config}"
    );

    // eval from another folder: the recorded classifier and the absolute data.dir
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    let out = run(
        &["eval", "--run", "../r", "--samples", "300"],
        &dir.path().join("elsewhere"),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("300 samples"), "{}", stdout(&out));

    // --resume evaluates again with the recorded classifier
    let out = run(
        &["train", "--resume", "r", "--steps", "6", "-q"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("image evaluation at step 6"),
        "{}",
        stdout(&out)
    );
    let eval: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("r/eval.json")).unwrap()).unwrap();
    assert_eq!(eval["step"], 6);

    // export prints a summary, not kilobytes of normaliser
    let out = run(&["export", "--run", "r", "--out", "g.onnx"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(printed.len() < 6_000, "{} bytes printed", printed.len());
    assert!(printed.contains("144 values, all 0"), "{printed}");
    assert!(
        printed.contains(r#"[\"bag\",\"shirt\",\"shoe\"]"#),
        "{printed}"
    );

    // ship refuses to mix trainings in one folder
    let out = run(&["ship", "--run", "r", "--out", "m"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&["ship", "--run", "r", "--out", "m"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    let out = run(&["ship", "--run", "r", "--out", "m", "--force"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("m/generator.onnx").is_file());
    assert!(!dir.path().join(".m.shipping").exists());

    // sample by class name (any case) or index; an unknown name lists the classes
    for label in ["shoe", "SHOE", "2"] {
        let out = run(
            &[
                "sample", "--run", "r", "--label", label, "-n", "4", "--png", "s.png",
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{label}: {}", stderr(&out));
    }
    let out = run(&["sample", "--run", "r", "--label", "boot"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown class `boot`") && stderr(&out).contains("bag, shirt, shoe"),
        "{}",
        stderr(&out)
    );

    // an OS error is printed once
    let out = run(
        &["eval", "--run", "r", "--classifier", "nowhere"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        stderr(&out).matches("os error 2").count(),
        1,
        "{}",
        stderr(&out)
    );
}

#[test]
fn own_rgb_pictures_at_another_size_with_classifier_like_the_run() {
    let dir = tempfile::tempdir().unwrap();
    picture_folder(&dir.path().join("photos"), &["cat", "dog"], 14, true, 16);
    let cfg = picture_config(
        dir.path(),
        "rgb.toml",
        "dir = \"photos\"\nchannels = 3\nimage_size = [16, 16]",
    );
    let out = run(&["train", "--config", &cfg, "--out", "r", "-q"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("label accuracy"), "{}", stdout(&out));
    // a grey classifier of the same pictures, which cannot read this RGB run
    let out = run(
        &[
            "classifier",
            "--dataset",
            "image_folder",
            "--data-dir",
            "photos",
            "--channels",
            "1",
            "--image-size",
            "16",
            "--out",
            "clf-grey",
            "--epochs",
            "1",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // a classifier trained like the run, recorded in it and used by eval
    let out = run(
        &["classifier", "--like", "r", "--out", "clf", "--epochs", "5"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("recorded in"), "{}", stdout(&out));
    let info = std::fs::read_to_string(dir.path().join("r/run.json")).unwrap();
    assert!(info.contains("clf"), "{info}");
    let out = run(&["eval", "--run", "r"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    // a classifier of other pictures: the run still ends, says why evaluation was skipped
    // and what to run, and leaves no eval.json of older weights
    let out = run(
        &[
            "train",
            "--resume",
            "r",
            "--steps",
            "6",
            "-q",
            "--classifier",
            "clf-grey",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.contains("evaluation skipped") && printed.contains("classifier --like r"),
        "{printed}"
    );
    assert!(!dir.path().join("r/eval.json").exists());
    let out = run(
        &["eval", "--run", "r", "--classifier", "clf-grey"],
        dir.path(),
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("[1, 16, 16]") && err.contains("[3, 16, 16]") && err.contains("--like r"),
        "{err}"
    );
    // the same from the dataset flags, any channel count and size
    let out = run(
        &[
            "classifier",
            "--dataset",
            "image_folder",
            "--data-dir",
            "photos",
            "--channels",
            "3",
            "--image-size",
            "16x16",
            "--out",
            "clf2",
            "--epochs",
            "2",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let card = std::fs::read_to_string(dir.path().join("clf2/classifier.json")).unwrap();
    assert!(card.contains("\"cat\"") && card.contains("16"), "{card}");
    let out = run(&["export", "--run", "r", "--out", "g.onnx"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(
        &[
            "sample", "--run", "r", "--label", "dog", "-n", "3", "--png", "dogs.png",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(dir.path().join("dogs.png").is_file());
}

#[test]
fn own_csv_with_string_labels_keeps_names_through_export_and_sample() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::from("east_km,north_km,site\n");
    for i in 0..90 {
        let (site, x, y) = match i % 3 {
            0 => ("north", 0.0, 3.0),
            1 => ("south", 0.0, -3.0),
            _ => ("east", 3.0, 0.0),
        };
        let j = f64::from(i) * 0.01;
        text.push_str(&format!("{},{},{site}\n", x + j, y - j));
    }
    std::fs::write(dir.path().join("points.csv"), text).unwrap();
    std::fs::write(
        dir.path().join("csv.toml"),
        "steps = 30\nbatch_size = 32\nlog_every = 10\ncheckpoint_every = 15\n\
         [data]\nkind = \"csv\"\npath = \"points.csv\"\nlabel_column = \"site\"\nconditional = true\n\
         [generator]\nhidden = [16]\n[discriminator]\nhidden = [16]\n",
    )
    .unwrap();
    let out = run(
        &["train", "--config", "csv.toml", "--out", "r", "-q"],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("KS"), "{}", stdout(&out));
    assert!(
        dir.path().join("r/plots/samples.png").is_file(),
        "2-D scatter"
    );
    let info = std::fs::read_to_string(dir.path().join("r/run.json")).unwrap();
    assert!(
        info.contains("\"east\"") && info.contains("north_km"),
        "{info}"
    );
    let out = run(&["export", "--run", "r", "--out", "g.onnx"], dir.path());
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    assert!(
        printed.contains(r#"[\"east_km\",\"north_km\"]"#)
            && printed.contains(r#"[\"east\",\"north\",\"south\"]"#),
        "{printed}"
    );
    let out = run(
        &[
            "sample", "--run", "r", "--label", "north", "-n", "3", "--header",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let mut lines = printed.lines();
    assert_eq!(lines.next(), Some("east_km,north_km,class"));
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        assert_eq!(cells.len(), 3, "{line}");
        assert_eq!(cells[2], "north");
        assert!(cells[0].parse::<f32>().is_ok() && cells[1].parse::<f32>().is_ok());
    }
}

#[test]
fn config_examples_print_configs_that_train() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "image_folder",
        "image_folder_rgb",
        "csv",
        "fashion_mnist",
        "ring8",
    ] {
        let out = run(&["config", "--example", name], dir.path());
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let text = stdout(&out);
        assert!(text.starts_with('#'), "{name} is commented");
        let parsed: toml::Table = toml::from_str(&text).unwrap();
        assert!(parsed.contains_key("data"), "{name}");
    }
    let out = run(&["config", "--example", "cifar"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("image_folder"), "{}", stderr(&out));
}
