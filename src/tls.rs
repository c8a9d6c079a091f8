//! TLS. (To be written.)
#[derive(clap::Args, Debug)]
pub struct CertsArgs {}
pub fn write_certs(_args: &CertsArgs) -> Result<(), String> {
    Err("not yet".into())
}
