//! Where training runs: the config's [`DeviceChoice`] resolved once into the Burn
//! [`Device`] a [`Gan`](crate::training::Gan) trains on.
//!
//! - `cpu`: Burn's flex backend (the default; every build).
//! - `gpu`: Burn's wgpu backend (cargo feature `gpu`, on by default; Vulkan on Linux,
//!   Metal on macOS, DX12 on Windows): the device wgpu prefers (a high-power GPU first),
//!   or a software one such as Mesa's lavapipe where nothing else is there. The device is
//!   opened and runs one small op here, so a missing driver is an error naming the remedy
//!   rather than a panic deep inside a step.
//! - `auto`: that device if it is a real card (it reports a physical device; software
//!   rasterisers do not), else the CPU: lavapipe is slower than flex.
//!
//! Sampling, evaluation and export run on the CPU whatever trained the networks
//! ([`on_cpu`]): records are device-independent, so a module moves with `to_device`.

use burn::prelude::*;

use crate::config::DeviceChoice;
use crate::error::{Result, TrainError};

/// The device the training steps run on (with autodiff) and what it is, for the log.
#[derive(Debug, Clone)]
pub struct TrainingDevice {
    /// the autodiff device networks and batches live on
    pub device: Device,
    /// e.g. `CPU (flex)` or `software GPU: llvmpipe (LLVM 15.0.6, 256 bits) (wgpu)`
    pub description: String,
    /// whether this is the CPU (flex)
    pub is_cpu: bool,
}

/// The CPU device (flex, with autodiff).
pub fn cpu() -> TrainingDevice {
    TrainingDevice {
        device: Device::flex().autodiff(),
        description: "CPU (flex)".into(),
        is_cpu: true,
    }
}

/// Resolves the config's choice into a device, opening a GPU to check it works.
pub fn resolve(choice: DeviceChoice) -> Result<TrainingDevice> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu()),
        DeviceChoice::Gpu => gpu::open().map(|g| g.device).map_err(TrainError::Device),
        DeviceChoice::Auto => Ok(gpu::open()
            .ok()
            .filter(|g| g.hardware)
            .map_or_else(cpu, |g| g.device)),
    }
}

/// `module` on the CPU (flex, no autodiff): where sampling, evaluation and export run.
pub fn on_cpu<M: Module>(module: M, trained_on: &TrainingDevice) -> M {
    if trained_on.is_cpu {
        module
    } else {
        module.to_device(&Device::flex())
    }
}

/// An opened wgpu device and whether it is a real card.
#[cfg_attr(not(feature = "gpu"), allow(dead_code))] // only the GPU build opens one
struct Opened {
    device: TrainingDevice,
    hardware: bool,
}

#[cfg(feature = "gpu")]
mod gpu {
    use std::panic::{AssertUnwindSafe, catch_unwind};

    use burn::prelude::*;
    use burn::tensor::DeviceKind;

    use super::{Opened, TrainingDevice};

    /// Opens wgpu's preferred device and runs one reduction on it. wgpu and cubecl
    /// report a missing driver or adapter by panicking; that becomes the error here (the
    /// panic hook is silenced for the probe so the user sees one sentence).
    pub(super) fn open() -> Result<Opened, String> {
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let probed = catch_unwind(AssertUnwindSafe(|| {
            let device = Device::wgpu(DeviceKind::DefaultDevice);
            let sum = Tensor::<1>::from_floats([1.0, 2.0, 3.0], &device)
                .sum()
                .try_into_scalar::<f32>()
                .map_err(|e| format!("{e:?}"));
            let identity = device.identity();
            (device, sum, identity)
        }));
        std::panic::set_hook(hook);
        let (device, sum, identity) = probed.map_err(|payload| {
            format!(
                "no usable GPU through wgpu ({}): install the GPU's Vulkan driver (or Mesa's \
                 software one, Debian package mesa-vulkan-drivers), or train with --device cpu",
                crate::error::panic_message(payload.as_ref())
            )
        })?;
        let sum = sum.map_err(|e| format!("the GPU did not answer: {e}"))?;
        if sum != 6.0 {
            return Err(format!(
                "the GPU computed 1 + 2 + 3 = {sum}; train with --device cpu"
            ));
        }
        let (name, hardware) = match identity {
            Some(id) => (id.name, id.physical.is_some()),
            None => ("unnamed".to_string(), false),
        };
        let kind = if hardware { "GPU" } else { "software GPU" };
        Ok(Opened {
            device: TrainingDevice {
                device: device.autodiff(),
                description: format!("{kind}: {name} (wgpu)"),
                is_cpu: false,
            },
            hardware,
        })
    }
}

#[cfg(not(feature = "gpu"))]
mod gpu {
    use super::Opened;

    /// Never opens: this build has no GPU backend.
    pub(super) fn open() -> Result<Opened, String> {
        Err(
            "this edgegan-train was built without the `gpu` feature (Burn's wgpu \
             backend): rebuild with it, or train with --device cpu"
                .into(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `auto` never trains on a software GPU (lavapipe is slower than flex): it is the
    /// CPU, or a card that reports a physical device.
    #[test]
    fn auto_is_the_cpu_or_a_hardware_gpu() {
        let device = resolve(DeviceChoice::Auto).unwrap();
        assert!(
            device.is_cpu || device.description.starts_with("GPU: "),
            "auto chose {}",
            device.description
        );
        assert!(resolve(DeviceChoice::Cpu).unwrap().is_cpu);
    }

    /// `gpu` opens a wgpu device (Mesa's lavapipe in CI) or fails with the remedy; with
    /// the feature it must open here, since setup installs lavapipe.
    #[test]
    fn gpu_opens_a_device_or_names_the_remedy() {
        match (resolve(DeviceChoice::Gpu), cfg!(feature = "gpu")) {
            (Ok(device), true) => {
                assert!(!device.is_cpu);
                assert!(
                    device.description.contains("GPU: "),
                    "{}",
                    device.description
                );
            }
            (Err(e), false) => assert!(e.to_string().contains("--device cpu"), "{e}"),
            (Err(e), true) => panic!("no GPU with the gpu feature: {e}"),
            (Ok(device), false) => panic!("a GPU without the gpu feature: {}", device.description),
        }
    }
}
