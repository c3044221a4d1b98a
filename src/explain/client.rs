//! The chat-completions client: an OpenAI-compatible endpoint with retries, an on-disk reply
//! cache and a token tally.

use anyhow::{anyhow, bail, Result};
use serde_json::{json, Value};
use std::time::Duration;

/// A chat-completions client with retries (429 / 5xx / network errors, exponential backoff),
/// an optional on-disk response cache (a rerun costs nothing) and a token tally.
pub struct LlmClient {
    agent: ureq::Agent,
    /// The API base, without a trailing `/`.
    base: String,
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
            base: endpoint.trim_end_matches('/').to_string(),
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
        let h = crate::fsutil::fnv1a64(crate::fsutil::FNV_START, text.as_bytes());
        Some(dir.join(format!("{h:016x}.json")))
    }

    /// Sends messages (role, content) and returns the reply text.
    pub fn chat(&self, messages: &[(&str, String)]) -> Result<String> {
        Ok(self.chat_with_usage(messages)?.0)
    }

    /// Like [`LlmClient::chat`], with what the call cost (also for replies from the cache,
    /// whose stored body keeps the server's usage).
    pub fn chat_with_usage(&self, messages: &[(&str, String)]) -> Result<(String, Usage)> {
        let (reply, usage, _) = self.chat_full(messages, false)?;
        Ok((reply, usage))
    }

    /// Like [`LlmClient::chat_with_usage`], asking the server for the log-probabilities of the
    /// reply's tokens (OpenAI's `logprobs: true, top_logprobs: 5`): the reply's
    /// `choices[0].logprobs`, when the server gave them.
    pub fn chat_with_logprobs(
        &self,
        messages: &[(&str, String)],
    ) -> Result<(String, Usage, Option<Value>)> {
        self.chat_full(messages, true)
    }

    fn chat_full(
        &self,
        messages: &[(&str, String)],
        logprobs: bool,
    ) -> Result<(String, Usage, Option<Value>)> {
        let chars: u64 = messages.iter().map(|(_, c)| c.chars().count() as u64).sum();
        let mut body = json!({
            "model": self.model,
            "temperature": 0.0,
            "messages": messages.iter().map(|(r, c)| json!({"role": r, "content": c})).collect::<Vec<_>>(),
        });
        if logprobs {
            body["logprobs"] = json!(true);
            body["top_logprobs"] = json!(5);
        }
        let valid = |v: &Value| {
            v.pointer("/choices/0/message/content")
                .is_some_and(Value::is_string)
        };
        let v = self.post(&self.url, &body, valid)?;
        let reply = v
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{}: the reply has no choices[0].message.content", self.url))?;
        let lp = v
            .pointer("/choices/0/logprobs")
            .filter(|l| !l.is_null())
            .cloned();
        Ok((reply.to_string(), usage_of(&v, chars, reply), lp))
    }

    /// Embeddings of `texts` from the server's `/embeddings` endpoint (OpenAI-compatible), in
    /// the order given, through the same cache, retries and token tally as chat calls.
    pub fn embed(&self, texts: &[String]) -> Result<(Vec<Vec<f64>>, Usage)> {
        let url = format!("{}/embeddings", self.base);
        let body = json!({"model": self.model, "input": texts});
        let n = texts.len();
        let valid = |v: &Value| {
            v.get("data")
                .and_then(Value::as_array)
                .is_some_and(|d| d.len() == n)
        };
        let v = self.post(&url, &body, valid)?;
        let data = v
            .get("data")
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("{url}: the reply has no `data` list"))?;
        if data.len() != n {
            bail!("{url}: {} embeddings for {n} texts", data.len());
        }
        let mut out = vec![vec![]; n];
        for (i, d) in data.iter().enumerate() {
            let at = d
                .get("index")
                .and_then(Value::as_u64)
                .map_or(i, |x| x as usize);
            let e: Option<Vec<f64>> = d
                .get("embedding")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().map(Value::as_f64).collect());
            match (e, out.get_mut(at)) {
                (Some(e), Some(slot)) if !e.is_empty() && slot.is_empty() => *slot = e,
                _ => bail!("{url}: embedding {i} is missing, empty or not a list of numbers"),
            }
        }
        let chars = texts.iter().map(|t| t.chars().count() as u64).sum();
        Ok((out, usage_of(&v, chars, "")))
    }

    /// POSTs `body` to `url` (from the cache when a stored reply passes `valid`), with
    /// retries; stores the reply and adds its usage to the tally.
    fn post(&self, url: &str, body: &Value, valid: impl Fn(&Value) -> bool) -> Result<Value> {
        let cache = self.cache_file(body);
        if let Some(Ok(text)) = cache.as_ref().map(std::fs::read_to_string) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                if valid(&v) {
                    self.cached
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return Ok(v);
                }
            }
        }
        let mut attempt = 0;
        let v: Value = loop {
            let mut req = self.agent.post(url);
            if let Some(k) = &self.api_key {
                req = req.header("Authorization", format!("Bearer {k}"));
            }
            let r = req.send_json(body);
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
                        .map_err(|e| anyhow!("{url}: the reply is not JSON ({e})"))?;
                }
                Err(e) if retryable && attempt < self.retries => {
                    attempt += 1;
                    tracing::warn!("{url}: {e}; retry {attempt} of {}", self.retries);
                    std::thread::sleep(Duration::from_millis(250 * (1 << attempt)));
                }
                Err(e) => bail!("{url}: {e}"),
            }
        };
        let used = usage_of(&v, 0, "");
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
        Ok(v)
    }
}

/// The usage a reply reports, with `chars` sent plus the reply's characters.
fn usage_of(v: &Value, chars: u64, reply: &str) -> Usage {
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
