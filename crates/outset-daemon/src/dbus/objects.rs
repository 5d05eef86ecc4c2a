//! Upstart 1.13's object model: where each object lives, what it answers to, what its
//! properties hold, and how outset's errors are named on D-Bus.

use outset_dbus::path::{escape, unescape};
use outset_dbus::{Type, Value};
use outset_job::{Arg, Expr, JobConfig};
use outset_proto::InstanceStatus;

pub const MANAGER_PATH: &str = "/com/ubuntu/Upstart";
pub const JOBS_PATH: &str = "/com/ubuntu/Upstart/jobs";
pub const MANAGER: &str = "com.ubuntu.Upstart0_6";
pub const JOB: &str = "com.ubuntu.Upstart0_6.Job";
pub const INSTANCE: &str = "com.ubuntu.Upstart0_6.Instance";
pub const PROPERTIES: &str = "org.freedesktop.DBus.Properties";
pub const INTROSPECTABLE: &str = "org.freedesktop.DBus.Introspectable";
pub const PEER: &str = "org.freedesktop.DBus.Peer";
/// The well-known name Upstart took on a bus.
pub const BUS_NAME: &str = "com.ubuntu.Upstart";
/// Upstart's private socket.
pub const PRIVATE_ADDRESS: &str = "unix:abstract=/com/ubuntu/upstart";

/// Errors, as Upstart named them.
pub mod error {
    pub const UNKNOWN_JOB: &str = "com.ubuntu.Upstart0_6.Error.UnknownJob";
    pub const UNKNOWN_INSTANCE: &str = "com.ubuntu.Upstart0_6.Error.UnknownInstance";
    pub const ALREADY_STARTED: &str = "com.ubuntu.Upstart0_6.Error.AlreadyStarted";
    pub const ALREADY_STOPPED: &str = "com.ubuntu.Upstart0_6.Error.AlreadyStopped";
    pub const JOB_FAILED: &str = "com.ubuntu.Upstart0_6.Error.JobFailed";
    pub const EVENT_FAILED: &str = "com.ubuntu.Upstart0_6.Error.EventFailed";
    pub const NOT_RUNNING: &str = "com.ubuntu.Upstart0_6.Error.NotRunning";
    pub const PERMISSION_DENIED: &str = "com.ubuntu.Upstart0_6.Error.PermissionDenied";
    pub const INVALID_ARGS: &str = "org.freedesktop.DBus.Error.InvalidArgs";
    pub const UNKNOWN_METHOD: &str = "org.freedesktop.DBus.Error.UnknownMethod";
    pub const UNKNOWN_OBJECT: &str = "org.freedesktop.DBus.Error.UnknownObject";
    pub const UNKNOWN_PROPERTY: &str = "org.freedesktop.DBus.Error.UnknownProperty";
    pub const UNKNOWN_INTERFACE: &str = "org.freedesktop.DBus.Error.UnknownInterface";
    pub const PROPERTY_READ_ONLY: &str = "org.freedesktop.DBus.Error.PropertyReadOnly";
    pub const FAILED: &str = "org.freedesktop.DBus.Error.Failed";
}

/// The D-Bus error name for one of the engine's (or the control protocol's) messages.
pub fn error_name(message: &str) -> &'static str {
    const BY_PREFIX: &[(&str, &str)] = &[
        ("Unknown job", error::UNKNOWN_JOB),
        ("Unknown instance", error::UNKNOWN_INSTANCE),
        ("Job is already running", error::ALREADY_STARTED),
        ("Job has already been stopped", error::ALREADY_STOPPED),
        ("Job failed to start", error::JOB_FAILED),
        ("Job was stopped before it started", error::JOB_FAILED),
        ("Event failed", error::EVENT_FAILED),
        ("Job is not running", error::NOT_RUNNING),
        ("Permission denied", error::PERMISSION_DENIED),
        ("Env must be", error::INVALID_ARGS),
        ("Invalid event name", error::INVALID_ARGS),
        ("request refused", error::INVALID_ARGS),
    ];
    BY_PREFIX
        .iter()
        .find(|(p, _)| message.starts_with(p))
        .map_or(error::FAILED, |(_, n)| n)
}

/// What a path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Manager,
    Job(String),
    Instance(String, String),
    /// A path above the objects (`/`, `/com`, `/com/ubuntu`, `/com/ubuntu/Upstart/jobs`):
    /// only introspectable, to lead tools down to the objects; holds the path.
    Node(&'static str),
}

/// The object `path` names, if it can name one (whether the job exists is the caller's
/// question).
pub fn parse_path(path: &str) -> Option<Object> {
    match path {
        MANAGER_PATH => return Some(Object::Manager),
        "/" => return Some(Object::Node("/")),
        "/com" => return Some(Object::Node("/com")),
        "/com/ubuntu" => return Some(Object::Node("/com/ubuntu")),
        JOBS_PATH => return Some(Object::Node(JOBS_PATH)),
        _ => {}
    }
    let rest = path.strip_prefix(JOBS_PATH)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let job = unescape(parts.next()?)?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(Object::Job(job)),
        (Some(inst), None) => Some(Object::Instance(job, unescape(inst)?)),
        _ => None,
    }
}

pub fn job_path(job: &str) -> String {
    format!("{JOBS_PATH}/{}", escape(job))
}

pub fn instance_path(job: &str, instance: &str) -> String {
    format!("{JOBS_PATH}/{}/{}", escape(job), escape(instance))
}

/// Whether calling `member` on `object` changes state (and so needs the caller's right to
/// change it, as on the control socket). Known from the header alone.
pub fn is_change(object: &Object, interface: Option<&str>, member: &str) -> bool {
    if interface == Some(PROPERTIES) {
        return member == "Set";
    }
    match object {
        Object::Manager => {
            !matches!(
                member,
                "GetJobByName" | "GetAllJobs" | "GetState" | "GetEnv" | "ListEnv" | "Introspect"
            ) && !matches!(member, "Ping" | "GetMachineId" | "Get" | "GetAll")
        }
        Object::Job(_) => matches!(member, "Start" | "Stop" | "Restart"),
        Object::Instance(..) => matches!(member, "Start" | "Stop" | "Restart" | "Reload"),
        Object::Node(_) => false,
    }
}

fn s(v: &Option<String>) -> Value {
    Value::Str(v.clone().unwrap_or_default())
}

/// `start on` / `stop on` as Upstart's `aas`: the operands in reverse Polish order, each
/// `[name, args…]`, with `["/AND"]` and `["/OR"]` for the operators.
pub fn condition(expr: Option<&Expr>) -> Value {
    fn walk(e: &Expr, out: &mut Vec<Vec<String>>) {
        match e {
            Expr::And(a, b) | Expr::Or(a, b) => {
                walk(a, out);
                walk(b, out);
                out.push(vec![
                    if matches!(e, Expr::And(..)) {
                        "/AND"
                    } else {
                        "/OR"
                    }
                    .into(),
                ]);
            }
            Expr::Event(m) => {
                let mut op = vec![m.name.clone()];
                op.extend(m.args.iter().map(|a| match a {
                    Arg::Positional(v) => v.clone(),
                    Arg::Eq(k, v) => format!("{k}={v}"),
                    Arg::Ne(k, v) => format!("{k}!={v}"),
                }));
                out.push(op);
            }
            Expr::Ready(_) => {}
        }
    }
    let mut ops = Vec::new();
    if let Some(e) = expr {
        walk(e, &mut ops);
    }
    Value::Array(
        Type::Array(Box::new(Type::Str)),
        ops.iter().map(|op| Value::strings(op)).collect(),
    )
}

/// A job's properties, in Upstart's order.
pub fn job_properties(c: &JobConfig) -> Vec<(&'static str, Value)> {
    vec![
        ("name", Value::Str(c.name.clone())),
        ("description", s(&c.description)),
        ("author", s(&c.author)),
        ("version", s(&c.version)),
        ("usage", s(&c.usage)),
        ("start_on", condition(c.start_on.as_ref())),
        ("stop_on", condition(c.stop_on.as_ref())),
        ("emits", Value::strings(&c.emits)),
    ]
}

/// An instance's properties; `processes` in Upstart's order of process types.
pub fn instance_properties(st: &InstanceStatus) -> Vec<(&'static str, Value)> {
    const ORDER: [&str; 6] = [
        "main",
        "pre-start",
        "post-start",
        "pre-stop",
        "post-stop",
        "security",
    ];
    let mut procs: Vec<_> = st.processes.iter().collect();
    procs.sort_by_key(|p| {
        ORDER
            .iter()
            .position(|o| *o == p.kind)
            .unwrap_or(ORDER.len())
    });
    let processes = procs
        .into_iter()
        .map(|p| {
            Value::Struct(vec![
                Value::Str(p.kind.clone()),
                Value::I32(i32::try_from(p.pid).unwrap_or(i32::MAX)),
            ])
        })
        .collect();
    vec![
        ("name", Value::Str(st.instance.clone())),
        ("goal", Value::Str(st.goal.clone())),
        ("state", Value::Str(st.state.clone())),
        (
            "processes",
            Value::Array(Type::Struct(vec![Type::Str, Type::I32]), processes),
        ),
    ]
}

/// `a{sv}` of properties.
pub fn property_dict(props: Vec<(&'static str, Value)>) -> Value {
    Value::Array(
        Type::Entry(Box::new(Type::Str), Box::new(Type::Variant)),
        props
            .into_iter()
            .map(|(k, v)| {
                Value::Entry(
                    Box::new(Value::Str(k.into())),
                    Box::new(Value::Variant(Box::new(v))),
                )
            })
            .collect(),
    )
}

const MANAGER_XML: &str = r#"  <interface name="com.ubuntu.Upstart0_6">
    <method name="ReloadConfiguration"/>
    <method name="GetJobByName"><arg name="name" type="s" direction="in"/><arg name="job" type="o" direction="out"/></method>
    <method name="GetAllJobs"><arg name="jobs" type="ao" direction="out"/></method>
    <method name="GetState"><arg name="state" type="s" direction="out"/></method>
    <method name="GetEnv"><arg name="job_details" type="as" direction="in"/><arg name="name" type="s" direction="in"/><arg name="value" type="s" direction="out"/></method>
    <method name="SetEnv"><arg name="job_details" type="as" direction="in"/><arg name="var" type="s" direction="in"/><arg name="replace" type="b" direction="in"/></method>
    <method name="SetEnvList"><arg name="job_details" type="as" direction="in"/><arg name="vars" type="as" direction="in"/><arg name="replace" type="b" direction="in"/></method>
    <method name="UnsetEnv"><arg name="job_details" type="as" direction="in"/><arg name="name" type="s" direction="in"/></method>
    <method name="UnsetEnvList"><arg name="job_details" type="as" direction="in"/><arg name="names" type="as" direction="in"/></method>
    <method name="ListEnv"><arg name="job_details" type="as" direction="in"/><arg name="env" type="as" direction="out"/></method>
    <method name="ResetEnv"><arg name="job_details" type="as" direction="in"/></method>
    <signal name="JobAdded"><arg name="job" type="o"/></signal>
    <signal name="JobRemoved"><arg name="job" type="o"/></signal>
    <method name="EmitEvent"><arg name="name" type="s" direction="in"/><arg name="env" type="as" direction="in"/><arg name="wait" type="b" direction="in"/></method>
    <method name="EmitEventWithFile"><arg name="name" type="s" direction="in"/><arg name="env" type="as" direction="in"/><arg name="wait" type="b" direction="in"/><arg name="file" type="h" direction="in"/></method>
    <signal name="EventEmitted"><arg name="name" type="s"/><arg name="env" type="as"/></signal>
    <signal name="Restarted"/>
    <method name="NotifyDiskWriteable"/>
    <method name="NotifyDBusAddress"><arg name="address" type="s" direction="in"/></method>
    <method name="NotifyCGroupManagerAddress"><arg name="address" type="s" direction="in"/></method>
    <method name="EndSession"/>
    <property name="version" type="s" access="read"/>
    <property name="log_priority" type="s" access="readwrite"/>
  </interface>
"#;

const JOB_XML: &str = r#"  <interface name="com.ubuntu.Upstart0_6.Job">
    <method name="GetInstance"><arg name="env" type="as" direction="in"/><arg name="instance" type="o" direction="out"/></method>
    <method name="GetInstanceByName"><arg name="name" type="s" direction="in"/><arg name="instance" type="o" direction="out"/></method>
    <method name="GetAllInstances"><arg name="instances" type="ao" direction="out"/></method>
    <signal name="InstanceAdded"><arg name="instance" type="o"/></signal>
    <signal name="InstanceRemoved"><arg name="instance" type="o"/></signal>
    <method name="Start"><arg name="env" type="as" direction="in"/><arg name="wait" type="b" direction="in"/><arg name="instance" type="o" direction="out"/></method>
    <method name="Stop"><arg name="env" type="as" direction="in"/><arg name="wait" type="b" direction="in"/></method>
    <method name="Restart"><arg name="env" type="as" direction="in"/><arg name="wait" type="b" direction="in"/><arg name="instance" type="o" direction="out"/></method>
    <property name="name" type="s" access="read"/>
    <property name="description" type="s" access="read"/>
    <property name="author" type="s" access="read"/>
    <property name="version" type="s" access="read"/>
    <property name="usage" type="s" access="read"/>
    <property name="start_on" type="aas" access="read"/>
    <property name="stop_on" type="aas" access="read"/>
    <property name="emits" type="as" access="read"/>
  </interface>
"#;

const INSTANCE_XML: &str = r#"  <interface name="com.ubuntu.Upstart0_6.Instance">
    <method name="Start"><arg name="wait" type="b" direction="in"/></method>
    <method name="Stop"><arg name="wait" type="b" direction="in"/></method>
    <method name="Restart"><arg name="wait" type="b" direction="in"/></method>
    <method name="Reload"/>
    <signal name="GoalChanged"><arg name="goal" type="s"/></signal>
    <signal name="StateChanged"><arg name="state" type="s"/></signal>
    <signal name="Failed"><arg name="status" type="i"/></signal>
    <property name="name" type="s" access="read"/>
    <property name="goal" type="s" access="read"/>
    <property name="state" type="s" access="read"/>
    <property name="processes" type="a(si)" access="read"/>
  </interface>
"#;

const STANDARD_XML: &str = r#"  <interface name="org.freedesktop.DBus.Introspectable">
    <method name="Introspect"><arg name="data" type="s" direction="out"/></method>
  </interface>
  <interface name="org.freedesktop.DBus.Properties">
    <method name="Get"><arg name="interface_name" type="s" direction="in"/><arg name="property_name" type="s" direction="in"/><arg name="value" type="v" direction="out"/></method>
    <method name="GetAll"><arg name="interface_name" type="s" direction="in"/><arg name="props" type="a{sv}" direction="out"/></method>
    <method name="Set"><arg name="interface_name" type="s" direction="in"/><arg name="property_name" type="s" direction="in"/><arg name="value" type="v" direction="in"/></method>
  </interface>
"#;

/// The introspection XML of `object`, with `children` (path elements) as child nodes.
pub fn introspect(object: &Object, children: &[String]) -> String {
    let mut xml = String::from(
        "<!DOCTYPE node PUBLIC \"-//freedesktop//DTD D-BUS Object Introspection 1.0//EN\"\n \"http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd\">\n<node>\n",
    );
    xml.push_str(STANDARD_XML);
    xml.push_str(match object {
        Object::Manager => MANAGER_XML,
        Object::Job(_) => JOB_XML,
        Object::Instance(..) => INSTANCE_XML,
        Object::Node(_) => "",
    });
    for c in children {
        xml.push_str(&format!("  <node name=\"{c}\"/>\n"));
    }
    xml.push_str("</node>\n");
    xml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_objects_upstart_had() {
        assert_eq!(parse_path(MANAGER_PATH), Some(Object::Manager));
        assert_eq!(
            parse_path("/com/ubuntu/Upstart/jobs/network_2dmanager"),
            Some(Object::Job("network-manager".into()))
        );
        assert_eq!(
            parse_path("/com/ubuntu/Upstart/jobs/tty/tty1"),
            Some(Object::Instance("tty".into(), "tty1".into()))
        );
        assert_eq!(
            parse_path("/com/ubuntu/Upstart/jobs/web/_"),
            Some(Object::Instance("web".into(), String::new()))
        );
        assert_eq!(parse_path("/com/ubuntu/Upstart/jobs/a/b/c"), None);
        assert_eq!(parse_path("/com/ubuntu/Upstart/jobs/a-b"), None);
        assert_eq!(parse_path("/org/x"), None);
        assert_eq!(
            job_path("network-manager"),
            "/com/ubuntu/Upstart/jobs/network_2dmanager"
        );
        assert_eq!(instance_path("web", ""), "/com/ubuntu/Upstart/jobs/web/_");
    }

    #[test]
    fn engine_errors_get_upstarts_names() {
        assert_eq!(error_name("Unknown job: x"), error::UNKNOWN_JOB);
        assert_eq!(
            error_name("Job is already running: x"),
            error::ALREADY_STARTED
        );
        assert_eq!(error_name("Job failed to start: x"), error::JOB_FAILED);
        assert_eq!(error_name("Event failed"), error::EVENT_FAILED);
        assert_eq!(
            error_name("Env must be KEY=VALUE pairs"),
            error::INVALID_ARGS
        );
        assert_eq!(error_name("something else"), error::FAILED);
    }

    #[test]
    fn conditions_are_reverse_polish() {
        let job = outset_job::parse_job("j", "start on (a X=1 or b) and c\nexec true\n").unwrap();
        let Value::Array(_, ops) = condition(job.start_on.as_ref()) else {
            panic!()
        };
        let ops: Vec<Vec<String>> = ops.iter().map(|o| o.as_strings().unwrap()).collect();
        assert_eq!(
            ops,
            vec![
                vec!["a".to_string(), "X=1".into()],
                vec!["b".into()],
                vec!["/OR".into()],
                vec!["c".into()],
                vec!["/AND".into()],
            ]
        );
    }

    #[test]
    fn changes_are_known_from_the_header() {
        assert!(is_change(&Object::Manager, None, "EmitEvent"));
        assert!(is_change(&Object::Manager, None, "ReloadConfiguration"));
        assert!(!is_change(&Object::Manager, None, "GetJobByName"));
        assert!(!is_change(&Object::Manager, Some(PROPERTIES), "Get"));
        assert!(is_change(&Object::Manager, Some(PROPERTIES), "Set"));
        assert!(is_change(&Object::Job("j".into()), None, "Start"));
        assert!(!is_change(
            &Object::Job("j".into()),
            None,
            "GetAllInstances"
        ));
        assert!(is_change(
            &Object::Instance("j".into(), String::new()),
            None,
            "Reload"
        ));
    }
}
