"""STAND-IN for vLLM 0.33.0's `vllm serve` (test infrastructure; vLLM needs a GPU, none is here).

It follows vLLM's interface where this collection uses it, and nothing more:
- the command line: the flags of `vllm serve --help=all` of vLLM 0.33.0 (copied beside this file);
  an unknown flag ends it as argparse does (exit 2, "unrecognized arguments"); the model is the
  positional model_tag or --model;
- the environment: HF_HOME / HF_HUB_CACHE, HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, VLLM_API_KEY;
- start-up, where it costs time (vllm/transformers_utils/config.py, repo_utils.py, tokenizers/registry.py,
  model_loader/default_loader.py of vLLM):
  - online it lists the repository on the Hub at every start; with HF_HUB_OFFLINE=1 it asks nothing
    and reads the Hugging Face cache only;
  - --config-format, --load-format and --tokenizer-mode "auto" (the defaults) choose the Mistral
    format as vLLM does: a repository listing consolidated*.safetensors loads those weights, and
    params.json as its config when it has one; tekken.json or tokenizer.model.v* make the tokenizer
    mistral_common's (offline the listing is empty, so "auto" means the Hugging Face format); explicit
    flags (`--load-format mistral --config-format mistral --tokenizer-mode mistral`, or
    `--load-format safetensors --config-format hf`) are used as given;
  - online it downloads the files it lacks (the weights of the chosen format through
    snapshot_download, the config, tokenizer and generation config through hf_hub_download); offline
    a missing file ends the start with vLLM's own error;
  - it reads every weight byte it uses from the cache (safetensors headers checked), then spends the
    rest of vLLM's start, on top of any download: STANDIN_ENGINE_FIXED_SECONDS plus
    STANDIN_LOAD_SECONDS_PER_GIB for each real GiB read (the lab serves weights at 1/STANDIN_SIZE_SCALE
    of their size); without those, 1 s (STANDIN_STARTUP_SECONDS);
  - the derived context length is checked against --max-model-len, and only then does HTTP listen;
- HTTP (OpenAI-compatible, vLLM's shapes): GET /health, GET /v1/models, POST /v1/chat/completions
  (stream or not), POST /v1/completions; errors as {"error": {"message", "type", "param", "code"}};
  with an API key, /v1/* answer 401 {"error": "Unauthorized"} without `Authorization: Bearer <key>`;
- scheduling: at most --max-num-seqs requests run at once, the rest wait in a queue.
Its answers are not a model's: it echoes the last user message, one word per token, with a delay
per token (STANDIN_TOKEN_SECONDS, default 0.05) so that queueing can be observed.
"""

import fnmatch
import glob
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


PROCESS_STARTED = time.time()
GIB = 1024**3
READ_BLOCK = 8 * 1024 * 1024
# vLLM's weight patterns per load format (vllm/model_executor/model_loader/default_loader.py).
WEIGHT_PATTERNS = {
    "hf": ["*.safetensors", "*.bin", "*.pt"],
    "safetensors": ["*.safetensors"],
    "mistral": ["consolidated*.safetensors"],
    "pt": ["*.pt"],
}
INDEX_FILES = {"mistral": "consolidated.safetensors.index.json"}
MISTRAL_TOKENIZER_PATTERNS = ("tekken.json", "tokenizer.model.v*")


class StartError(Exception):
    """The engine cannot start; the message is vLLM's own words for the same cause."""


def engine_start_seconds(bytes_read, scale, fixed_seconds, seconds_per_gib):
    """How long vLLM takes from its start until it answers: a fixed part (imports, torch.compile, CUDA
    graphs) and a part per GiB of weights; `bytes_read` were served at 1/`scale` of their real size."""
    return float(fixed_seconds) + float(seconds_per_gib) * float(bytes_read) * float(scale) / GIB


def _matches(name, patterns):
    return any(fnmatch.fnmatch(os.path.basename(name), pattern) for pattern in patterns)


def choose_formats(model, options, listing, exists):
    """(config_format, load_format, tokenizer_mode) as vLLM 0.33 resolves "auto" (the default of each).

    `listing` is the repository's file list (vLLM asks the Hub; offline it has none), `exists(name)`
    whether a file is cached or listed. As in vllm/transformers_utils/config.py, default_loader.py and
    tokenizers/registry.py: a repository with consolidated*.safetensors is a Mistral-format one for the
    weights, and for the config too when params.json exists; tekken.json or tokenizer.model.v* make the
    tokenizer mistral_common's."""

    def first(name):
        return (options.get(name) or ["auto"])[0]

    mistral_weights = any(_matches(name, ["consolidated*.safetensors"]) for name in listing)
    config_format = first("--config-format")
    if config_format == "auto":
        if mistral_weights and exists("params.json"):
            config_format = "mistral"
        elif exists("config.json"):
            config_format = "hf"
        else:
            raise StartError(
                "ValueError: Invalid repository ID or local directory specified: '%s'.\nPlease verify the "
                "following requirements:\n1. Provide a valid Hugging Face repository ID.\n2. Specify a local "
                "directory that contains a recognized configuration file.\n   - For Hugging Face models: ensure "
                "the presence of a 'config.json'.\n   - For Mistral models: ensure the presence of a "
                "'params.json'.\n" % model
            )
    load_format = first("--load-format")
    if load_format == "auto":
        load_format = "mistral" if mistral_weights else "hf"
    if load_format not in WEIGHT_PATTERNS:
        raise StartError("ValueError: Unknown load_format: %s (the stand-in knows %s)"
                         % (load_format, ", ".join(sorted(WEIGHT_PATTERNS))))  # fmt: skip
    tokenizer_mode = first("--tokenizer-mode")
    if tokenizer_mode == "auto":
        tokenizer_mode = "mistral" if any(_matches(name, MISTRAL_TOKENIZER_PATTERNS) for name in listing) else "hf"
    return config_format, load_format, tokenizer_mode


def derived_max_len(config, config_format):
    if config_format == "mistral":
        # vLLM's Mistral config adapter: params.json rarely says it; the default is 128k.
        return int(config.get("max_position_embeddings") or config.get("max_seq_len") or 128_000)
    return int(config.get("max_position_embeddings") or 2048)


def read_file(path):
    """Read a file to the end (the page cache or the disk serves it, as for vLLM); its size."""
    count = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(READ_BLOCK)
            if not block:
                return count
            count += len(block)


def read_safetensors(path):
    """Check the header as safetensors does, then read every tensor byte; the bytes read."""
    with open(path, "rb") as handle:
        prefix = handle.read(8)
        length = int.from_bytes(prefix, "little") if len(prefix) == 8 else -1
        if length < 2 or length > 100 * 1024 * 1024:
            raise StartError("safetensors_rust.SafetensorError: Error while deserializing header: HeaderTooLarge")
        try:
            header = json.loads(handle.read(length))
        except ValueError as exc:
            raise StartError("safetensors_rust.SafetensorError: Error while deserializing header: %s" % exc) from None
        end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
    data = read_file(path) - 8 - length
    if data < end:
        raise StartError("safetensors_rust.SafetensorError: Error while deserializing header: "
                         "MetadataIncompleteBuffer (%s)" % path)  # fmt: skip
    return data + 8 + length


class RepoAccess:
    """The model repository as vLLM reaches it: huggingface_hub online, the cache only when HF_HUB_OFFLINE=1."""

    def __init__(self, model, revision, token):
        import huggingface_hub
        from huggingface_hub import constants

        self.hub = huggingface_hub
        self.model = model
        self.revision = revision
        self.token = token
        self.offline = bool(constants.HF_HUB_OFFLINE)
        self._listing = None

    def listing(self):
        """vLLM lists the repository on the Hub at every start; offline the list is empty."""
        if self._listing is None:
            if os.path.isdir(self.model):
                self._listing = [
                    os.path.relpath(os.path.join(d, f), self.model) for d, _s, fs in os.walk(self.model) for f in fs
                ]
            elif self.offline:
                self._listing = []
            else:
                try:
                    api = self.hub.HfApi()
                    self._listing = api.list_repo_files(self.model, revision=self.revision, token=self.token)
                except Exception as exc:  # vLLM logs it and goes on with an empty list
                    log("Error retrieving file list: %s" % exc)
                    self._listing = []
        return self._listing

    def cached(self, name):
        if os.path.isdir(self.model):
            path = os.path.join(self.model, name)
            return path if os.path.isfile(path) else None
        found = self.hub.try_to_load_from_cache(self.model, name, revision=self.revision)
        return found if isinstance(found, str) else None

    def exists(self, name):
        return self.cached(name) is not None or name in self.listing()

    def fetch(self, name):
        """The file's path: from the cache, else downloaded (online); None when it cannot be had."""
        path = self.cached(name)
        if path or self.offline or os.path.isdir(self.model):
            return path
        try:
            return self.hub.hf_hub_download(self.model, name, revision=self.revision, token=self.token)
        except Exception as exc:
            log("Could not fetch %s: %s" % (name, type(exc).__name__))
            return None

    def load_config(self, config_format):
        name = "params.json" if config_format == "mistral" else "config.json"
        path = self.fetch(name)
        if path is None:
            if config_format == "mistral":
                raise StartError(
                    "ValueError: Failed to load mistral 'params.json' config for model %s. Please check if the "
                    "model is a mistral-format model and if the config file exists." % self.model
                )
            raise StartError(self._offline_message())
        with open(path) as handle:
            return json.load(handle)

    def load_tokenizer(self, tokenizer_mode):
        if tokenizer_mode == "mistral":
            names = self.listing() or self._snapshot_files()
            candidates = sorted(n for n in names if _matches(n, MISTRAL_TOKENIZER_PATTERNS))
            preferred = [n for n in candidates if n.endswith("tekken.json")] or candidates[-1:]
            if not preferred or self.fetch(preferred[0]) is None:
                raise StartError(
                    "OSError: Found no tokenizer file (tekken.json or tokenizer.model.v*) for %s%s"
                    % (self.model, " in the cache (HF_HUB_OFFLINE=1)" if self.offline else "")
                )
            return
        if self.fetch("tokenizer_config.json") is None:
            raise StartError(self._offline_message())
        if "tokenizer.json" in self.listing() or self.cached("tokenizer.json"):
            self.fetch("tokenizer.json")

    def generation_config(self):
        """vLLM reads generation_config.json when the repository has one (online: it downloads it)."""
        self.fetch("generation_config.json")

    def _snapshot_files(self):
        """The files of the cached snapshot (offline, mistral_common's tokenizer looks there)."""
        from huggingface_hub import constants

        repo_dir = os.path.join(constants.HF_HUB_CACHE, "models--" + self.model.replace("/", "--"))
        revision = self.revision or "main"
        refs = os.path.join(repo_dir, "refs", revision)
        if os.path.isfile(refs):
            with open(refs) as handle:
                revision = handle.read().strip()
        folder = os.path.join(repo_dir, "snapshots", revision)
        return [os.path.relpath(os.path.join(d, f), folder) for d, _s, fs in os.walk(folder) for f in fs]

    def _offline_message(self):
        return (
            "OSError: We couldn't connect to 'https://huggingface.co' to load the files, and couldn't find them "
            "in the cached files. Check your internet connection or see how to run the library in offline mode "
            "at 'https://huggingface.co/docs/transformers/installation#offline-mode'."
        )

    def weight_files(self, load_format):
        """vLLM's download_weights_from_hf and the file choice after it: the first pattern that matches,
        then only the files an index names (Mistral-7B-Instruct-v0.3 has consolidated and sharded files)."""
        patterns = list(WEIGHT_PATTERNS[load_format])
        if os.path.isdir(self.model):
            folder = self.model
        else:
            if not self.offline:
                for pattern in patterns:
                    if any(_matches(name, [pattern]) for name in self.listing()):
                        patterns = [pattern]
                        break
            log("Using model weights format %s" % patterns)
            try:
                folder = self.hub.snapshot_download(
                    self.model, revision=self.revision, allow_patterns=patterns, token=self.token,
                    local_files_only=self.offline,
                )  # fmt: skip
            except Exception as exc:
                raise StartError("%s: %s" % (type(exc).__name__, exc)) from None
        files = []
        for pattern in patterns:
            files = sorted(glob.glob(os.path.join(folder, pattern)))
            if files:
                break
        if len(files) > 1 and files[0].endswith(".safetensors"):
            index = INDEX_FILES.get(load_format, "model.safetensors.index.json")
            if not os.path.isdir(self.model):
                self.fetch(index)
            index_path = os.path.join(folder, index)
            if os.path.isfile(index_path):
                with open(index_path) as handle:
                    wanted = set(json.load(handle)["weight_map"].values())
                files = [f for f in files if os.path.basename(f) in wanted]
        if not files:
            raise StartError("RuntimeError: Cannot find any model weights with `%s`" % self.model)
        return files


class Engine:
    def __init__(self, model, options):
        def first(name, default=None):
            return (options.get(name) or [default])[0]

        self.model = model
        self.options = options
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
        """Start-up as vLLM 0.33 does it where it costs time: list the repository (online), choose the
        formats, fetch what is missing (online) or fail (offline), read the weights, then the rest of
        the engine's start (STANDIN_ENGINE_FIXED_SECONDS, STANDIN_LOAD_SECONDS_PER_GIB per real GiB)."""
        log("vLLM API server version 0.33.0 (stand-in for tests; no GPU)")
        log("args: model=%s served=%s max_num_seqs=%d" % (self.model, self.served, self.max_num_seqs))
        try:
            repo = RepoAccess(self.model, self.revision, os.environ.get("HF_TOKEN") or None)
            formats = choose_formats(self.model, self.options, repo.listing(), repo.exists)
            log("Formats: config %s, load %s, tokenizer %s" % formats)
            config = repo.load_config(formats[0])
            repo.load_tokenizer(formats[2])
            repo.generation_config()
            started = time.time()
            weights = repo.weight_files(formats[1])
            downloading = time.time() - started
            log("Downloading weights took %.2f seconds" % downloading)
            started = time.time()
            read = sum(read_safetensors(path) if path.endswith(".safetensors") else read_file(path) for path in weights)
            log("Read %d bytes of weights from %s" % (read, ", ".join(os.path.basename(p) for p in weights)))
            log("Loading weights took %.2f seconds" % (time.time() - started))
        except StartError as exc:
            sys.stderr.write("%s\n" % exc)
            sys.exit(1)
        derived = derived_max_len(config, formats[0])
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
        self.weights_bytes = read
        if os.environ.get("STANDIN_ENGINE_FIXED_SECONDS"):
            target = engine_start_seconds(
                read,
                float(os.environ.get("STANDIN_SIZE_SCALE") or 1),
                float(os.environ["STANDIN_ENGINE_FIXED_SECONDS"]),
                float(os.environ.get("STANDIN_LOAD_SECONDS_PER_GIB") or 0),
            )
            # The download is vLLM's too, but it comes on top of the start's own work, not within it.
            time.sleep(max(target - (time.time() - PROCESS_STARTED - downloading), 0.0))
        else:
            time.sleep(float(os.environ.get("STANDIN_STARTUP_SECONDS", "1")))
        log(
            "Model loading took %.2f GiB and %.2f seconds"
            % (read * float(os.environ.get("STANDIN_SIZE_SCALE") or 1) / GIB, time.time() - PROCESS_STARTED)
        )

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
