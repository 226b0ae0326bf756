//! Who may use the API socket: its mode, owner and group as configured,
//! resolved on this host. Whoever can connect controls xlbd (reload, drain,
//! edit), so the default is the daemon's user (root) alone.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `[daemon] socket_mode/socket_owner/socket_group` with names resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketAccess {
    pub mode: u32,
    /// `None`: left as created (xlbd's own).
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

impl Default for SocketAccess {
    fn default() -> SocketAccess {
        SocketAccess {
            mode: 0o600,
            uid: None,
            gid: None,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    #[error(
        "socket_owner {0:?}: no such user on this host; create it, name an existing \
         user (or a numeric uid), or remove socket_owner to keep the socket root's"
    )]
    NoUser(String),
    #[error(
        "socket_group {0:?}: no such group on this host; create it (groupadd --system {0}), \
         name an existing group (or a numeric gid), or remove socket_group to keep the \
         socket root's alone"
    )]
    NoGroup(String),
}

impl SocketAccess {
    /// Every name that does not resolve, not only the first.
    pub fn resolve(c: &xlb_model::config::SocketAccess) -> Result<SocketAccess, Vec<AccessError>> {
        let mut errors = Vec::new();
        let uid = c.owner.as_deref().and_then(|n| {
            let id = numeric(n).or_else(|| uid_of(n));
            if id.is_none() {
                errors.push(AccessError::NoUser(n.into()));
            }
            id
        });
        let gid = c.group.as_deref().and_then(|n| {
            let id = numeric(n).or_else(|| gid_of(n));
            if id.is_none() {
                errors.push(AccessError::NoGroup(n.into()));
            }
            id
        });
        if errors.is_empty() {
            Ok(SocketAccess {
                mode: c.mode,
                uid,
                gid,
            })
        } else {
            Err(errors)
        }
    }

    /// Owner and group first: a chown may clear mode bits.
    pub(crate) fn apply(&self, path: &Path, mode: u32) -> io::Result<()> {
        if self.uid.is_some() || self.gid.is_some() {
            std::os::unix::fs::chown(path, self.uid, self.gid)?;
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
    }

    /// A directory xlbd creates for the socket: its users must be able to
    /// reach the socket through it, and no one else to list it.
    pub(crate) fn dir_mode(&self) -> u32 {
        let mut mode = 0o700;
        if self.mode & 0o070 != 0 {
            mode |= 0o010;
        }
        mode
    }
}

fn numeric(name: &str) -> Option<u32> {
    name.parse().ok()
}

/// Through NSS (getpwnam_r), so users from LDAP or sssd count as local ones.
fn uid_of(name: &str) -> Option<u32> {
    nss_id(name, libc::getpwnam_r, |p| p.pw_uid)
}

/// Through NSS (getgrnam_r), as `uid_of`.
fn gid_of(name: &str) -> Option<u32> {
    nss_id(name, libc::getgrnam_r, |g| g.gr_gid)
}

/// getpwnam_r(3) or getgrnam_r(3): by name, into a caller's entry and
/// string buffer.
type NssByName<E> = unsafe extern "C" fn(
    *const libc::c_char,
    *mut E,
    *mut libc::c_char,
    libc::size_t,
    *mut *mut E,
) -> libc::c_int;

/// The id `id` reads from the entry `lookup` finds for `name`, the string
/// buffer doubled (up to 1 MiB) while the lookup says it is too small.
fn nss_id<E>(name: &str, lookup: NssByName<E>, id: fn(&E) -> u32) -> Option<u32> {
    let name = CString::new(name).ok()?;
    let mut buf = vec![0u8; 1024];
    loop {
        let mut entry = MaybeUninit::<E>::uninit();
        let mut found: *mut E = std::ptr::null_mut();
        // SAFETY: every pointer is to a live local of the size passed; the
        // strings the lookup writes stay in `buf`, which outlives `entry`.
        let rc = unsafe {
            lookup(
                name.as_ptr(),
                entry.as_mut_ptr(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || found.is_null() {
            return None;
        }
        // SAFETY: found, when set, points to `entry`, which the lookup
        // filled in.
        return Some(id(unsafe { &*found }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlb_model::config::SocketAccess as Configured;

    fn configured(owner: Option<&str>, group: Option<&str>) -> Configured {
        Configured {
            mode: 0o660,
            owner: owner.map(Into::into),
            group: group.map(Into::into),
        }
    }

    #[test]
    fn names_and_numbers_resolve() {
        let a = SocketAccess::resolve(&configured(Some("root"), Some("root"))).unwrap();
        assert_eq!((a.mode, a.uid, a.gid), (0o660, Some(0), Some(0)));
        let a = SocketAccess::resolve(&configured(Some("4321"), Some("1234"))).unwrap();
        assert_eq!((a.uid, a.gid), (Some(4321), Some(1234)));
        let a = SocketAccess::resolve(&configured(None, None)).unwrap();
        assert_eq!((a.uid, a.gid), (None, None));
    }

    #[test]
    fn every_local_user_and_group_resolves_to_its_id() {
        // NSS's files source reads these: each name, the id beside it
        // (its first line: a name listed twice resolves to that; NIS's
        // +/- lines have no id).
        for (file, lookup) in [
            ("/etc/passwd", uid_of as fn(&str) -> Option<u32>),
            ("/etc/group", gid_of),
        ] {
            let text = std::fs::read_to_string(file).unwrap();
            let mut seen = std::collections::HashSet::new();
            for f in text.lines().map(|l| l.split(':').collect::<Vec<_>>()) {
                if let (Some(name), Some(Ok(id))) = (f.first(), f.get(2).map(|i| i.parse())) {
                    if seen.insert(*name) {
                        assert_eq!(lookup(name), Some(id), "{name} in {file}");
                    }
                }
            }
            assert!(seen.len() > 1, "{file} lists {} entries", seen.len());
        }
    }

    #[test]
    fn unknown_names_are_all_reported() {
        let e = SocketAccess::resolve(&configured(
            Some("no-such-user-xlb"),
            Some("no-such-group-xlb"),
        ))
        .unwrap_err();
        assert_eq!(
            e,
            vec![
                AccessError::NoUser("no-such-user-xlb".into()),
                AccessError::NoGroup("no-such-group-xlb".into())
            ]
        );
        assert!(e[1]
            .to_string()
            .contains("groupadd --system no-such-group-xlb"));
    }

    #[test]
    fn a_created_directory_lets_the_group_through_only_when_it_has_access() {
        let mut a = SocketAccess::default();
        assert_eq!(a.dir_mode(), 0o700);
        a.mode = 0o660;
        assert_eq!(a.dir_mode(), 0o710);
    }
}
