//! A user's own pictures: `root/<class>/*.png|jpg|jpeg`, one sub-folder per class (sorted
//! by name, so class indices are stable), each picture converted to grayscale or RGB and
//! resized to the configured size with the `image` crate.

use std::path::{Path, PathBuf};

use image::imageops::FilterType;

use crate::error::{Result, TrainError};

/// Pictures read from a folder tree, as row-major `[n, c, h, w]` bytes.
#[derive(Debug, Clone)]
pub struct FolderImages {
    /// class names (sub-folder names), index = label
    pub class_names: Vec<String>,
    /// pixels, `[n, channels, height, width]`
    pub pixels: Vec<u8>,
    /// one label per picture
    pub labels: Vec<i64>,
}

fn is_picture(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg"))
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .map_err(TrainError::io(dir))?
        .map(|e| e.map(|e| e.path()).map_err(TrainError::io(dir)))
        .collect::<Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}

/// Reads `root/<class>/*` into `channels` (1 = grayscale, 3 = RGB) at `[height, width]`.
pub fn read_folder(root: &Path, channels: usize, size: [usize; 2]) -> Result<FolderImages> {
    if channels != 1 && channels != 3 {
        return Err(TrainError::data(
            root,
            format!("channels = {channels}: pictures are read as 1 (grayscale) or 3 (RGB)"),
        ));
    }
    let [height, width] = size;
    let class_dirs: Vec<PathBuf> = sorted_entries(root)?
        .into_iter()
        .filter(|p| p.is_dir())
        .collect();
    if class_dirs.is_empty() {
        return Err(TrainError::data(
            root,
            "no class folders: expected root/<class>/*.png|jpg",
        ));
    }
    let mut out = FolderImages {
        class_names: Vec::with_capacity(class_dirs.len()),
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for (label, dir) in class_dirs.iter().enumerate() {
        let pictures: Vec<PathBuf> = sorted_entries(dir)?
            .into_iter()
            .filter(|p| p.is_file() && is_picture(p))
            .collect();
        if pictures.is_empty() {
            return Err(TrainError::data(
                dir,
                "empty class folder: it holds no .png, .jpg or .jpeg picture",
            ));
        }
        out.class_names.push(
            dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        for path in pictures {
            let picture = image::ImageReader::open(&path)
                .map_err(TrainError::io(&path))?
                .with_guessed_format()
                .map_err(TrainError::io(&path))?
                .decode()
                .map_err(|e| TrainError::data(&path, format!("unreadable image: {e}")))?;
            let picture = picture.resize_exact(width as u32, height as u32, FilterType::Triangle);
            if channels == 1 {
                out.pixels.extend_from_slice(picture.to_luma8().as_raw());
            } else {
                // interleaved RGB -> planar [3, h, w]
                let rgb = picture.to_rgb8();
                let raw = rgb.as_raw();
                for c in 0..3 {
                    out.pixels.extend(raw.iter().skip(c).step_by(3));
                }
            }
            out.labels.push(label as i64);
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes a small PNG of one colour.
    pub(crate) fn write_png(path: &Path, w: u32, h: u32, rgb: [u8; 3]) {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb(rgb));
        img.save(path).unwrap();
    }

    #[test]
    fn reads_classes_in_name_order_resized_to_the_configured_size() {
        let dir = tempfile::tempdir().unwrap();
        for (class, colour) in [("shoe", [255, 0, 0]), ("bag", [0, 0, 255])] {
            std::fs::create_dir(dir.path().join(class)).unwrap();
            write_png(&dir.path().join(class).join("a.png"), 10, 6, colour);
            write_png(&dir.path().join(class).join("b.PNG"), 3, 3, colour);
        }
        std::fs::write(dir.path().join("bag").join("notes.txt"), "not a picture").unwrap();
        let gray = read_folder(dir.path(), 1, [4, 5]).unwrap();
        assert_eq!(gray.class_names, vec!["bag", "shoe"]);
        assert_eq!(gray.labels, vec![0, 0, 1, 1]);
        assert_eq!(gray.pixels.len(), 4 * 4 * 5);
        let rgb = read_folder(dir.path(), 3, [2, 2]).unwrap();
        assert_eq!(rgb.pixels.len(), 4 * 3 * 4);
        // first picture is blue: planar R plane 0, B plane 255
        assert_eq!(&rgb.pixels[..4], &[0, 0, 0, 0]);
        assert_eq!(&rgb.pixels[8..12], &[255, 255, 255, 255]);
    }

    #[test]
    fn empty_class_folder_and_unreadable_image_are_errors_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("empty")).unwrap();
        let err = read_folder(dir.path(), 1, [4, 4]).unwrap_err().to_string();
        assert!(
            err.contains("empty") && err.contains("class folder"),
            "{err}"
        );
        std::fs::write(dir.path().join("empty").join("x.png"), b"garbage").unwrap();
        let err = read_folder(dir.path(), 1, [4, 4]).unwrap_err().to_string();
        assert!(err.contains("x.png") && err.contains("unreadable"), "{err}");
        let none = tempfile::tempdir().unwrap();
        let err = read_folder(none.path(), 1, [4, 4]).unwrap_err().to_string();
        assert!(err.contains("no class folders"), "{err}");
        let err = read_folder(dir.path(), 2, [4, 4]).unwrap_err().to_string();
        assert!(err.contains("channels"), "{err}");
    }
}
