//! The HTTPS hook server. (To be written.)
#[derive(clap::Args, Debug)]
pub struct ServeArgs {}
pub fn run(_args: ServeArgs) -> Result<(), String> {
    Err("not yet".into())
}
