//! The seed's mixer commands on the local API: their requests, checked before any mixer is
//! touched, and their answers, `{"Response":{"errCode":0}}` or, refused,
//! `{"Response":{"errCode":N,"Error":{"Code":N,"Message":"..."}}}` (the TIC refusal envelope
//! too, so clients that only read `Error.Code` see the refusal; the seed's codes are positive and
//! never collide with TIC's -1000x).

use super::mixers::Mixers;
use crate::mixer::types::{err, CrError, MixerCfg, MixerContent, MixerOutput};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

pub const COMMANDS: [&str; 5] = [
    "CreateLocMixer",
    "UpdateLocMixerContent",
    "AddLocMixerOutput",
    "RemoveLocMixerOutput",
    "DestroyLocMixer",
];

/// Bounds on what one request may list (the mixer and outputs have their own, lower, limits).
const MAX_CONTENT: usize = 32;
const MAX_OUTPUTS: usize = 16;
const MAX_NAME: usize = 4096;
const MAX_ID: usize = 64;

/// A mixer command, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum MixerCmd {
    Create {
        id: String,
        cfg: MixerCfg,
        content: Vec<MixerContent>,
    },
    Update {
        id: String,
        content: Vec<MixerContent>,
    },
    AddOutputs {
        id: String,
        outputs: Vec<MixerOutput>,
    },
    RemoveOutputs {
        id: String,
        names: Vec<String>,
    },
    Destroy {
        id: String,
    },
}

fn param(msg: impl Into<String>) -> CrError {
    CrError::new(err::PARAM_ERR, msg)
}

/// `mixerID`: a string of 1..=64 printable characters (a number is taken as its digits).
fn mixer_id(a: &Value) -> Result<String, CrError> {
    let id = match &a["mixerID"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(param("mixerID is required (a string)")),
    };
    if id.is_empty() || id.len() > MAX_ID || id.chars().any(char::is_control) {
        return Err(param(format!("mixerID must be 1..={MAX_ID} printable characters")));
    }
    Ok(id)
}

/// A required field of type `T`, named in the refusal when it is missing or malformed.
fn field<T: DeserializeOwned>(a: &Value, name: &str) -> Result<T, CrError> {
    let v = a.get(name).ok_or_else(|| param(format!("{name} is required")))?;
    T::deserialize(v).map_err(|e| param(format!("{name}: {e}")))
}

/// A required, non-empty list of at most `max` items.
fn list<T: DeserializeOwned>(a: &Value, name: &str, max: usize) -> Result<Vec<T>, CrError> {
    let n = a.get(name).and_then(Value::as_array).map(Vec::len);
    match n {
        Some(0) => Err(param(format!("{name} is empty"))),
        Some(n) if n > max => Err(CrError::new(
            err::CFG_RESTRICTED,
            format!("{name} may list at most {max} items"),
        )),
        _ => field(a, name),
    }
}

fn outputs(a: &Value) -> Result<Vec<MixerOutput>, CrError> {
    let outs: Vec<MixerOutput> = list(a, "mixerOutput", MAX_OUTPUTS)?;
    for o in &outs {
        if o.filename.is_empty() || o.filename.len() > MAX_NAME || o.filename.contains('\0') {
            return Err(param("mixerOutput: filename must be 1..=4096 bytes"));
        }
    }
    Ok(outs)
}

impl MixerCmd {
    /// `cmd`'s arguments from a request body (empty: `{}`).
    pub fn parse(cmd: &str, body: &[u8]) -> Result<MixerCmd, CrError> {
        let a: Value = if body.iter().all(u8::is_ascii_whitespace) {
            json!({})
        } else {
            match serde_json::from_slice(body) {
                Ok(v @ Value::Object(_)) => v,
                Ok(_) => return Err(param("the body must be a JSON object")),
                Err(e) => return Err(param(format!("the body is not JSON: {e}"))),
            }
        };
        let id = mixer_id(&a)?;
        Ok(match cmd {
            "CreateLocMixer" => {
                let cfg: MixerCfg = field(&a, "mixerCfg")?;
                cfg.check()?;
                MixerCmd::Create {
                    id,
                    cfg,
                    content: list(&a, "mixerContent", MAX_CONTENT)?,
                }
            }
            "UpdateLocMixerContent" => MixerCmd::Update {
                id,
                content: list(&a, "mixerContent", MAX_CONTENT)?,
            },
            "AddLocMixerOutput" => MixerCmd::AddOutputs {
                id,
                outputs: outputs(&a)?,
            },
            "RemoveLocMixerOutput" => {
                let names: Vec<String> = list(&a, "nameOrUrls", MAX_OUTPUTS)?;
                if names.iter().any(|n| n.is_empty() || n.len() > MAX_NAME) {
                    return Err(param("nameOrUrls: names must be 1..=4096 bytes"));
                }
                MixerCmd::RemoveOutputs { id, names }
            }
            "DestroyLocMixer" => MixerCmd::Destroy { id },
            other => return Err(param(format!("unknown command {other}"))),
        })
    }

    /// Runs the command on the recorder's mixers.
    pub async fn run(self, mixers: &std::sync::Arc<Mixers>) -> Result<(), CrError> {
        match self {
            MixerCmd::Create { id, cfg, content } => mixers.create(id, cfg, content).await,
            MixerCmd::Update { id, content } => mixers.with(&id, move |m| m.update_content(content)).await,
            MixerCmd::AddOutputs { id, outputs } => mixers.add_outputs(&id, outputs).await,
            MixerCmd::RemoveOutputs { id, names } => mixers.with(&id, move |m| m.remove_outputs(names)).await,
            MixerCmd::Destroy { id } => mixers.destroy(&id).await,
        }
    }
}

/// The answer's JSON body for a command's result.
pub fn answer(r: &Result<(), CrError>) -> Value {
    match r {
        Ok(()) => json!({"Response": {"errCode": err::NOERR}}),
        Err(e) => json!({"Response": {
            "errCode": e.code,
            "Error": {"Code": e.code, "Message": e.message},
        }}),
    }
}

/// The command line's layout file: `{"mixerCfg": {...}, "mixerContent": [...]}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Layout {
    #[serde(rename = "mixerCfg")]
    pub cfg: MixerCfg,
    #[serde(rename = "mixerContent")]
    pub content: Vec<MixerContent>,
    /// Outputs in `AddLocMixerOutput`'s terms (optional): uploads and encryption as the local API
    /// has them.
    #[serde(rename = "mixerOutput", default)]
    pub outputs: Vec<MixerOutput>,
}

impl Layout {
    /// Parses and checks a layout file's bytes as `CreateLocMixer` (and, for its `mixerOutput`,
    /// `AddLocMixerOutput`) would.
    pub fn parse(bytes: &[u8]) -> Result<Layout, CrError> {
        let mut a: Value = serde_json::from_slice(bytes).map_err(|e| param(format!("the layout is not JSON: {e}")))?;
        let Some(obj) = a.as_object_mut() else {
            return Err(param("the layout must be a JSON object"));
        };
        let outputs = match obj.remove("mixerOutput") {
            None => Vec::new(),
            Some(list) => {
                let add = json!({"mixerID": "cli", "mixerOutput": list});
                match MixerCmd::parse("AddLocMixerOutput", add.to_string().as_bytes())? {
                    MixerCmd::AddOutputs { outputs, .. } => outputs,
                    _ => return Err(param("mixerOutput: not a list of outputs")),
                }
            }
        };
        a["mixerID"] = json!("cli");
        match MixerCmd::parse("CreateLocMixer", a.to_string().as_bytes())? {
            MixerCmd::Create { cfg, content, .. } => Ok(Layout { cfg, content, outputs }),
            _ => Err(param("not a layout")),
        }
    }
}

#[cfg(test)]
#[path = "mixer_cmd_tests.rs"]
mod tests;
