"""STAND-IN for vLLM 0.33.0's `vllm serve` (test infrastructure; vLLM needs a GPU, none is here).

It follows vLLM's interface where this collection uses it, and nothing more:
- the command line: the flags of `vllm serve --help=all` of vLLM 0.33.0 (copied beside this file);
  an unknown flag ends it as argparse does (exit 2, "unrecognized arguments"); the model is the
  positional model_tag or --model;
- the environment: HF_HOME / HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, VLLM_API_KEY;
- start-up: the model is downloaded with huggingface_hub.snapshot_download into the Hugging Face
  cache (config, tokenizer files and the weights), then config.json is checked against
  --max-model-len as vLLM does, and only then does the HTTP server listen;
- HTTP (OpenAI-compatible, vLLM's shapes): GET /health, GET /v1/models, POST /v1/chat/completions
  (stream or not), POST /v1/completions; errors as {"error": {"message", "type", "param", "code"}};
  with an API key, /v1/* answer 401 {"error": "Unauthorized"} without `Authorization: Bearer <key>`;
- scheduling: at most --max-num-seqs requests run at once, the rest wait in a queue.
Its answers are not a model's: it echoes the last user message, one word per token, with a delay
per token (STANDIN_TOKEN_SECONDS, default 0.05) so that queueing can be observed.
"""

import json
import os
import re
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
HELP_FILE = os.path.join(HERE, "vllm-0.33.0-serve-help.txt")
FLAGS_FILE = os.path.join(HERE, "vllm-0.33.0-serve-flags.txt")


def log(message):
    sys.stdout.write("INFO %s [api_server.py] %s\n" % (time.strftime("%m-%d %H:%M:%S"), message))
    sys.stdout.flush()


def known_flags():
    """{flag: takes_value} from vLLM's own help text, for every flag of the flag list."""
    takes_value = {}
    with open(HELP_FILE) as handle:
        for line in handle:
            match = re.match(r"^  (-[^ ].*?)(?:  +\S.*)?$", line.rstrip("\n"))
            if not match:
                continue
            for alias in match.group(1).split(", "):
                parts = alias.split(" ", 1)
                if parts[0].startswith("-"):
                    takes_value[parts[0]] = len(parts) > 1
    with open(FLAGS_FILE) as handle:
        for line in handle:
            flag = line.strip()
            if flag.startswith("--"):
                takes_value.setdefault(flag, True)
    return takes_value


def parse_args(argv):
    """vllm serve [model_tag] [options] -> (model, {flag: [values]})."""
    flags = known_flags()
    options = {}
    model = None
    unknown = []
    index = 0
    while index < len(argv):
        token = argv[index]
        index += 1
        if not token.startswith("-"):
            if model is None:
                model = token
                continue
            unknown.append(token)
            continue
        name, _sep, inline = token.partition("=")
        if name not in flags:
            unknown.append(token)
            continue
        if not flags[name]:
            options[name] = [True]
            continue
        values = [inline] if inline else []
        while index < len(argv) and not argv[index].startswith("-"):
            values.append(argv[index])
            index += 1
            if name not in ("--api-key", "--served-model-name"):
                break
        if not values:
            sys.stderr.write("vllm serve: error: argument %s: expected one argument\n" % name)
            sys.exit(2)
        options[name] = values
    if unknown:
        sys.stderr.write("usage: vllm serve [model_tag] [options]\n")
        sys.stderr.write("vllm serve: error: unrecognized arguments: %s\n" % " ".join(unknown))
        sys.exit(2)
    model = model or (options.get("--model") or [None])[0] or "Qwen/Qwen3-0.6B"
    return model, options


def parse_len(text):
    """--max-model-len accepts 1k (1000) and 1K (1024) forms."""
    match = re.match(r"^([0-9.]+)([kKmMgG]?)$", str(text))
    if not match:
        raise ValueError("invalid --max-model-len %r" % text)
    number, unit = float(match.group(1)), match.group(2)
    scale = {"": 1, "k": 1000, "m": 10**6, "g": 10**9, "K": 1024, "M": 1024**2, "G": 1024**3}[unit]
    return int(number * scale)


class Engine:
    def __init__(self, model, options):
        def first(name, default=None):
            return (options.get(name) or [default])[0]

        self.model = model
        self.served = options.get("--served-model-name") or [model]
        self.host = first("--host") or "0.0.0.0"
        self.port = int(first("--port", 8000))
        self.max_num_seqs = int(first("--max-num-seqs", 256))
        self.requested_len = first("--max-model-len")
        self.revision = first("--revision")
        keys = options.get("--api-key") or []
        if os.environ.get("VLLM_API_KEY"):
            keys.append(os.environ["VLLM_API_KEY"])
        self.api_keys = set(keys)
        self.slots = threading.BoundedSemaphore(self.max_num_seqs)
        self.lock = threading.Lock()
        self.running = 0
        self.waiting = 0
        self.token_seconds = float(os.environ.get("STANDIN_TOKEN_SECONDS", "0.05"))
        self.created = int(time.time())

    def load(self):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError

        log("vLLM API server version 0.33.0 (stand-in for tests; no GPU)")
        log("args: model=%s served=%s max_num_seqs=%d" % (self.model, self.served, self.max_num_seqs))
        started = time.time()
        try:
            path = snapshot_download(
                self.model,
                revision=self.revision,
                allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja", "*.tiktoken"],
                token=os.environ.get("HF_TOKEN") or None,
            )
        except (GatedRepoError, RepositoryNotFoundError, HfHubHTTPError) as exc:
            sys.stderr.write("ERROR %s: %s\n" % (type(exc).__name__, exc))
            sys.exit(1)
        log("Downloading weights took %.2f seconds" % (time.time() - started))
        with open(os.path.join(path, "config.json")) as handle:
            config = json.load(handle)
        derived = int(config.get("max_position_embeddings") or 2048)
        self.max_model_len = derived
        if self.requested_len:
            requested = parse_len(self.requested_len)
            if requested > derived:
                sys.stderr.write(
                    "ValueError: User-specified max_model_len (%d) is greater than the derived max_model_len "
                    "(max_position_embeddings=%d in model's config.json).\n" % (requested, derived)
                )
                sys.exit(1)
            self.max_model_len = requested
        time.sleep(float(os.environ.get("STANDIN_STARTUP_SECONDS", "1")))
        log("Model loading took 0.00 GiB and %.2f seconds" % (time.time() - started))

    # --- generation ----------------------------------------------------------------------------
    def run(self, words, on_token):
        with self.lock:
            self.waiting += 1
        self.slots.acquire()
        with self.lock:
            self.waiting -= 1
            self.running += 1
            log("Running: %d reqs, Waiting: %d reqs" % (self.running, self.waiting))
        try:
            for word in words:
                time.sleep(self.token_seconds)
                on_token(word)
        finally:
            with self.lock:
                self.running -= 1
            self.slots.release()


def reply_words(text, max_tokens):
    words = ("Stand-in reply to: " + " ".join(text.split())).split(" ")
    finish = "length" if len(words) > max_tokens else "stop"
    words = words[:max_tokens]
    return [w if i == 0 else " " + w for i, w in enumerate(words)], finish


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    engine = None

    def log_message(self, fmt, *args):
        log('%s - "%s" %s' % (self.client_address[0], self.requestline, args[1] if len(args) > 1 else ""))

    def send_json(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, kind="BadRequestError", param=None):
        self.send_json(status, {"error": {"message": message, "type": kind, "param": param, "code": status}})

    def authorised(self):
        if not self.engine.api_keys or not self.path.startswith("/v1"):
            return True
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer ") and header[7:] in self.engine.api_keys:
            return True
        self.send_json(401, {"error": "Unauthorized"})
        return False

    def do_GET(self):
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if not self.authorised():
            return
        if self.path == "/v1/models":
            data = [
                {
                    "id": name,
                    "object": "model",
                    "created": self.engine.created,
                    "owned_by": "vllm",
                    "root": self.engine.model,
                    "parent": None,
                    "max_model_len": self.engine.max_model_len,
                    "permission": [],
                }
                for name in self.engine.served
            ]
            self.send_json(200, {"object": "list", "data": data})
            return
        self.send_json(404, {"detail": "Not Found"})

    def do_POST(self):
        if not self.authorised():
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.error(400, "Invalid JSON body")
        if self.path == "/v1/chat/completions":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                return self.error(400, "messages: Field required", param="messages")
            prompt = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
            user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
            text = str(user[-1].get("content", "")) if user else ""
            return self.generate(body, prompt, text, chat=True)
        if self.path == "/v1/completions":
            prompt = body.get("prompt")
            if not isinstance(prompt, str):
                return self.error(400, "prompt: Field required", param="prompt")
            return self.generate(body, prompt, prompt, chat=False)
        return self.send_json(404, {"detail": "Not Found"})

    def generate(self, body, prompt, text, chat):
        engine = self.engine
        model = body.get("model")
        if model not in engine.served:
            return self.error(404, "The model `%s` does not exist." % model, "NotFoundError", "model")
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or 16
        prompt_tokens = len(prompt.split())
        if prompt_tokens + max_tokens > engine.max_model_len:
            return self.error(
                400,
                "This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the "
                "messages, %d in the completion). Please reduce the length of the messages or completion."
                % (engine.max_model_len, prompt_tokens + max_tokens, prompt_tokens, max_tokens),
                param="max_tokens",
            )
        words, finish = reply_words(text, int(max_tokens))
        request_id = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(words),
            "total_tokens": prompt_tokens + len(words),
        }
        created = int(time.time())
        kind = "chat.completion" if chat else "text_completion"
        if not body.get("stream"):
            pieces = []
            engine.run(words, pieces.append)
            content = "".join(pieces)
            if chat:
                choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}
            else:
                choice = {"index": 0, "text": content, "finish_reason": finish, "logprobs": None}
            return self.send_json(
                200,
                {
                    "id": request_id,
                    "object": kind,
                    "created": created,
                    "model": model,
                    "choices": [choice],
                    "usage": usage,
                },
            )
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def event(payload):
            data = ("data: %s\n\n" % (payload if isinstance(payload, str) else json.dumps(payload))).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def chunk(delta=None, text=None, finish_reason=None):
            if chat:
                choice = {"index": 0, "delta": delta or {}, "finish_reason": finish_reason}
            else:
                choice = {"index": 0, "text": text or "", "finish_reason": finish_reason, "logprobs": None}
            return {
                "id": request_id,
                "object": kind + ".chunk" if chat else kind,
                "created": created,
                "model": model,
                "choices": [choice],
            }

        if chat:
            event(chunk(delta={"role": "assistant", "content": ""}))
        engine.run(words, lambda w: event(chunk(delta={"content": w}, text=w)))
        event(chunk(finish_reason=finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            final = chunk()
            final["choices"] = []
            final["usage"] = usage
            event(final)
        event("[DONE]")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        return None


def main(argv):
    if not argv or argv[0] != "serve":
        sys.stderr.write("usage: vllm serve [model_tag] [options] (the stand-in knows only 'serve')\n")
        return 2
    model, options = parse_args(argv[1:])
    engine = Engine(model, options)
    engine.load()
    Handler.engine = engine
    server = ThreadingHTTPServer((engine.host, engine.port), Handler)
    server.daemon_threads = True
    log("Starting vLLM API server on http://%s:%d" % (engine.host, engine.port))
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
