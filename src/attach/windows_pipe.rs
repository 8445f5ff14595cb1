//! The engine's named pipe on Windows, made with an access list that lets in only its
//! owner and the system ([`super::PIPE_SDDL`]), refusing clients from other machines.

use tokio::net::windows::named_pipe::{NamedPipeServer, ServerOptions};
use windows_sys::Win32::Foundation::LocalFree;
use windows_sys::Win32::Security::Authorization::{
    ConvertStringSecurityDescriptorToSecurityDescriptorW, SDDL_REVISION_1,
};
use windows_sys::Win32::Security::{PSECURITY_DESCRIPTOR, SECURITY_ATTRIBUTES};

/// One instance of the pipe `name`; `first` refuses to open a pipe someone else made
/// under the name already (a squatter could otherwise listen in our place).
pub fn create(name: &str, first: bool) -> std::io::Result<NamedPipeServer> {
    let sddl: Vec<u16> = super::PIPE_SDDL.encode_utf16().chain([0]).collect();
    let mut descriptor: PSECURITY_DESCRIPTOR = std::ptr::null_mut();
    #[expect(
        unsafe_code,
        reason = "the Win32 call that turns SDDL into a security descriptor"
    )]
    // SAFETY: `sddl` is NUL-terminated UTF-16 that outlives the call; `descriptor` is a
    // valid out-pointer; the size out-pointer may be null.
    let made = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            std::ptr::null_mut(),
        )
    };
    if made == 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut attributes = SECURITY_ATTRIBUTES {
        nLength: std::mem::size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor,
        bInheritHandle: 0,
    };
    let mut options = ServerOptions::new();
    options
        .first_pipe_instance(first)
        .reject_remote_clients(true);
    #[expect(
        unsafe_code,
        reason = "tokio takes the security attributes as a raw pointer"
    )]
    // SAFETY: `attributes` and the descriptor it points to are valid for the call, which
    // copies what it needs into the new pipe.
    let server = unsafe {
        options.create_with_security_attributes_raw(
            name,
            (&mut attributes as *mut SECURITY_ATTRIBUTES).cast(),
        )
    };
    #[expect(
        unsafe_code,
        reason = "the descriptor was allocated by the Win32 call above"
    )]
    // SAFETY: `descriptor` came from ConvertStringSecurityDescriptorToSecurityDescriptorW
    // and is freed once, after its last use.
    unsafe {
        LocalFree(descriptor);
    }
    server
}
