//! The chat-completions client: an OpenAI-compatible endpoint with retries, an on-disk reply
//! cache and a token tally.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// A chat-completions client with retries (429 / 5xx / network errors, exponential backoff),
/// an optional on-disk response cache (a rerun costs nothing) and a token tally.
pub struct LlmClient {
    agent: ureq::Agent,
    url: String,
    model: String,
    api_key: Option<String>,
    cache: Option<std::path::PathBuf>,
    retries: u32,
    /// Prompt and completion tokens the server reported, over calls that were not cached.
    pub prompt_tokens: std::sync::atomic::AtomicU64,
    pub completion_tokens: std::sync::atomic::AtomicU64,
    /// Calls answered from the cache.
    pub cached: std::sync::atomic::AtomicU64,
}

impl LlmClient {
    /// `endpoint` is the API base, e.g. `http://localhost:8000/v1`.
    pub fn new(endpoint: &str, model: &str, api_key: Option<String>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(180)))
            .build()
            .into();
        Self {
            agent,
            url: format!("{}/chat/completions", endpoint.trim_end_matches('/')),
            model: model.into(),
            api_key,
            cache: None,
            retries: 3,
            prompt_tokens: Default::default(),
            completion_tokens: Default::default(),
            cached: Default::default(),
        }
    }

    /// Keeps replies in `dir`, keyed by model and messages.
    pub fn with_cache(mut self, dir: &std::path::Path) -> Self {
        self.cache = Some(dir.to_path_buf());
        self
    }

    fn cache_file(&self, body: &Value) -> Option<std::path::PathBuf> {
        let dir = self.cache.as_ref()?;
        let text = body.to_string();
        let h = text.bytes().fold(0xcbf29ce484222325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        });
        Some(dir.join(format!("{h:016x}.json")))
    }

    /// Sends messages (role, content) and returns the reply text.
    pub fn chat(&self, messages: &[(&str, String)]) -> Result<String> {
        Ok(self.chat_with_usage(messages)?.0)
    }

    /// Like [`LlmClient::chat`], with what the call cost (also for replies from the cache,
    /// whose stored body keeps the server's usage).
    pub fn chat_with_usage(&self, messages: &[(&str, String)]) -> Result<(String, Usage)> {
        let chars: u64 = messages.iter().map(|(_, c)| c.chars().count() as u64).sum();
        let usage = |v: &Value, reply: &str| {
            let u = |k: &str| {
                v.pointer(&format!("/usage/{k}"))
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
            };
            Usage {
                prompt_tokens: u("prompt_tokens"),
                completion_tokens: u("completion_tokens"),
                chars: chars + reply.chars().count() as u64,
            }
        };
        let body = json!({
            "model": self.model,
            "temperature": 0.0,
            "messages": messages.iter().map(|(r, c)| json!({"role": r, "content": c})).collect::<Vec<_>>(),
        });
        let cache = self.cache_file(&body);
        if let Some(Ok(text)) = cache.as_ref().map(std::fs::read_to_string) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if let Some(c) = v
                    .pointer("/choices/0/message/content")
                    .and_then(Value::as_str)
                {
                    self.cached
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok((c.to_string(), usage(&v, c)));
                }
            }
        }
        let mut attempt = 0;
        let v: Value = loop {
            let mut req = self.agent.post(&self.url);
            if let Some(k) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {k}"));
            }
            let r = req.send_json(&body);
            let retryable = match &r {
                Err(ureq::Error::StatusCode(code)) => *code == 429 || *code >= 500,
                Err(ureq::Error::Io(_)) | Err(ureq::Error::Timeout(_)) => true,
                _ => false,
            };
            match r {
                Ok(mut resp) => {
                    break resp
                        .body_mut()
                        .read_json()
                        .map_err(|e| anyhow!("{}: the reply is not JSON ({e})", self.url))?;
                }
                Err(e) if retryable && attempt < self.retries => {
                    attempt += 1;
                    tracing::warn!("{}: {e}; retry {attempt} of {}", self.url, self.retries);
                    std::thread::sleep(Duration::from_millis(250 * (1 << attempt)));
                }
                Err(e) => bail!("{}: {e}", self.url),
            }
        };
        let used = usage(&v, "");
        self.prompt_tokens
            .fetch_add(used.prompt_tokens, std::sync::atomic::Ordering::Relaxed);
        self.completion_tokens
            .fetch_add(used.completion_tokens, std::sync::atomic::Ordering::Relaxed);
        if let Some(f) = &cache {
            if let Some(dir) = f.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let _ = crate::fsutil::write_atomic(f, v.to_string().as_bytes());
        }
        let reply = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{}: the reply has no choices[0].message.content", self.url))?;
        Ok((reply.to_string(), usage(&v, reply)))
    }
}

/// What calls cost: the tokens the server reported and the characters sent and received (a
/// server-independent measure, for servers that report no usage).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub chars: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, o: Usage) {
        self.prompt_tokens += o.prompt_tokens;
        self.completion_tokens += o.completion_tokens;
        self.chars += o.chars;
    }
}

impl Usage {
    /// Tokens when the server reported any, else characters.
    pub fn cost(&self) -> (u64, &'static str) {
        match self.prompt_tokens + self.completion_tokens {
            0 => (self.chars, "characters"),
            t => (t, "tokens"),
        }
    }
}
