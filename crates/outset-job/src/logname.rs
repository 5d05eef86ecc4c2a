//! Where a job's `console log` output goes: Upstart's file names (`job_process_log_path`).

/// The log file name of a job instance, inside the log directory: `JOB.log`, or
/// `JOB-INSTANCE.log` for a named instance, with every `/` in either name turned into `_`,
/// so the name is always a single path component. A name that would still not be one
/// (`.`, `..`, a NUL byte) cannot arise: `.log` always ends it and NUL becomes `_` too.
pub fn log_file_name(job: &str, instance: &str) -> String {
    let clean = |s: &str| s.replace(['/', '\0'], "_");
    if instance.is_empty() {
        format!("{}.log", clean(job))
    } else {
        format!("{}-{}.log", clean(job), clean(instance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstart_names() {
        assert_eq!(log_file_name("web", ""), "web.log");
        assert_eq!(log_file_name("a/b", "x/y"), "a_b-x_y.log");
        assert_eq!(
            log_file_name("j", "../../etc/passwd"),
            "j-.._.._etc_passwd.log"
        );
        assert_eq!(log_file_name("j", ".."), "j-...log");
        assert_eq!(log_file_name("j", "a\nb"), "j-a\nb.log");
    }
}
