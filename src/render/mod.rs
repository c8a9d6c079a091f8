//! Rendering: the desired children of one parent. (Work in progress.)
use crate::hook::{Child, CustomizeRequest, CustomizeResponse, SyncRequest, SyncResponse};
use crate::{Error, Result};

pub fn sync(_request: &SyncRequest) -> Result<SyncResponse> {
    Err(Error::Internal("not yet".into()))
}
pub fn customize(_request: &CustomizeRequest) -> Result<CustomizeResponse> {
    Err(Error::Internal("not yet".into()))
}
pub fn crd_yaml() -> String {
    String::new()
}
pub fn request_from_file(_input: &str) -> Result<SyncRequest> {
    Err(Error::Internal("not yet".into()))
}
pub fn to_json_pretty(_r: &SyncResponse) -> Result<String> {
    Err(Error::Internal("not yet".into()))
}
pub fn to_yaml_stream(_c: &[Child]) -> Result<String> {
    Err(Error::Internal("not yet".into()))
}
