//! Files the lead saves from the app (the programme's exports): written into the
//! downloads folder under the name the server gave, never over a file already there
//! ("visits (2).csv" instead), and never half-written.
//!
//! A webview's `<a download>` may do nothing in the app (WebKitGTK hands downloads to
//! the embedding program, which would have to handle them), so the app writes the file
//! itself and the page says where.

use std::io::Write;
use std::path::{Path, PathBuf};

use rapport_api::ApiError;

/// How many numbered names are tried before giving up: a folder holding "visits.csv"
/// up to "visits (1000).csv" is someone's mistake, not a reason to loop on.
const MAX_COPIES: u32 = 1000;

/// `name` if it is a plain file name, or why it may not be one: it must not be empty
/// and must stay inside the folder (no path separator, no `..`, no control character).
pub(crate) fn check_name(name: &str) -> Result<&str, ApiError> {
    let refuse = |why: &str| {
        Err(ApiError::new(
            "bad_file_name",
            format!(
                "`{name}` cannot be saved as a file: {why}; give a plain file name such as visits.csv"
            ),
        ))
    };
    if name.trim().is_empty() {
        return refuse("the name is empty");
    }
    if name.contains(['/', '\\']) {
        return refuse("it holds a path separator");
    }
    if name.contains("..") {
        return refuse("it holds `..`");
    }
    if name.chars().any(char::is_control) {
        return refuse("it holds a control character");
    }
    Ok(name)
}

/// The name of the `copy`-th file called `name` in one folder: `name` itself for the
/// first, then "visits (2).csv", "visits (3).csv" (the number before the extension, as
/// browsers and file managers do).
pub(crate) fn numbered(name: &str, copy: u32) -> String {
    if copy <= 1 {
        return name.to_owned();
    }
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem} ({copy}).{ext}"),
        _ => format!("{name} ({copy})"),
    }
}

/// Writes `bytes` into `dir` as `name`, or as the first numbered name not taken yet;
/// returns the file's full path. The bytes go to a temporary file in `dir` first,
/// flushed to disk, which then takes its name only if nothing has it: a crash leaves no
/// half file under the real name, and an existing file is never replaced, not even one
/// that appears meanwhile.
pub(crate) fn save(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ApiError> {
    let name = check_name(name)?;
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        ApiError::new(
            "save_failed",
            format!(
                "the file {name} could not be saved in {} ({what}: {e}); check that the folder exists and may be written to, and that the disk has room",
                dir.display()
            ),
        )
    };
    std::fs::create_dir_all(dir).map_err(|e| failed("creating the folder", &e))?;
    // The temporary file, hence the saved one, is readable by its owner only (0600 on
    // Unix): exports name clients and their people.
    let mut temp = tempfile::Builder::new()
        .prefix(".rapport-")
        .suffix(".part")
        .tempfile_in(dir)
        .map_err(|e| failed("creating a temporary file", &e))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| failed("writing", &e))?;
    for copy in 1..=MAX_COPIES {
        let target = dir.join(numbered(name, copy));
        match temp.persist_noclobber(&target) {
            Ok(_) => return Ok(target),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => temp = e.file,
            Err(e) => return Err(failed("naming the file", &e.error)),
        }
    }
    Err(ApiError::new(
        "save_failed",
        format!(
            "{} already holds {MAX_COPIES} files called like {name}; move some of them elsewhere and save again",
            dir.display()
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_copy_is_numbered_before_the_extension() {
        assert_eq!(numbered("visits.csv", 1), "visits.csv");
        assert_eq!(numbered("visits.csv", 2), "visits (2).csv");
        assert_eq!(
            numbered("визиты клиентов.xlsx", 12),
            "визиты клиентов (12).xlsx"
        );
        assert_eq!(numbered("отчёт", 3), "отчёт (3)");
        assert_eq!(numbered(".profile", 2), ".profile (2)");
    }

    #[test]
    fn names_that_leave_the_folder_are_refused() {
        for bad in [
            "",
            "  ",
            "../visits.csv",
            "..",
            "a..b.csv",
            "dir/visits.csv",
            "/etc/passwd",
            "C:\\visits.csv",
            "визиты\n.csv",
            "nul\0.csv",
        ] {
            let err = check_name(bad).expect_err(bad);
            assert_eq!(err.code, "bad_file_name", "{bad:?}");
            assert!(err.message.contains("plain file name"), "{err:?}");
        }
        for good in [
            "visits.csv",
            "Выгрузка клиентов.xlsx",
            "follow-ups.csv",
            ".hidden",
        ] {
            assert_eq!(check_name(good).expect(good), good);
        }
    }

    #[test]
    fn saving_twice_keeps_both_files_and_leaves_nothing_else() {
        let dir = tempfile::tempdir().expect("a folder");
        let downloads = dir.path().join("Загрузки");
        let first = save(
            &downloads,
            "клиенты.csv",
            "Компания\nООО «Ромашка»\n".as_bytes(),
        )
        .expect("first save");
        let second = save(&downloads, "клиенты.csv", b"second").expect("second save");
        assert_eq!(first, downloads.join("клиенты.csv"));
        assert_eq!(second, downloads.join("клиенты (2).csv"));
        assert_eq!(
            std::fs::read_to_string(&first).expect("first file"),
            "Компания\nООО «Ромашка»\n",
            "the first file is not overwritten"
        );
        assert_eq!(std::fs::read(&second).expect("second file"), b"second");
        let mut names: Vec<String> = std::fs::read_dir(&downloads)
            .expect("listing")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["клиенты (2).csv", "клиенты.csv"],
            "no temporary file left"
        );
    }

    #[test]
    fn a_bad_name_writes_nothing() {
        let dir = tempfile::tempdir().expect("a folder");
        let err = save(dir.path(), "../escape.csv", b"x").expect_err("refused");
        assert_eq!(err.code, "bad_file_name");
        assert!(!dir.path().join("../escape.csv").exists());
        assert_eq!(std::fs::read_dir(dir.path()).expect("listing").count(), 0);
    }
}
