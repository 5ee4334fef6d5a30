//! The subcommand handlers of the `edgegan-train` binary that outgrew `main.rs`: each
//! file holds one subcommand's flags and the code that runs it.

pub(crate) mod sample;
pub(crate) mod train;
