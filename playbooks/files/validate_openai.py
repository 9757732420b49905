"""Use a sandbox's API the way a user's app does: the official openai client with only base_url set.

validate_openai.py BASE_URL [MODEL]   (the API key, when the sandbox has one, comes from OPENAI_API_KEY)

Lists the models, asks one chat completion and one streamed chat completion, and prints a JSON
summary (the model, the answers, the time to the first streamed token). Exits 1 with the reason
on the first thing that does not work, and 3 when the openai package is missing.
"""

import json
import os
import sys
import time

try:
    from openai import OpenAI
except ImportError:
    print("FAILED: the openai package is missing on this machine: pip install openai")
    sys.exit(3)


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def main(base_url, model=""):
    client = OpenAI(base_url=base_url, api_key=os.environ.get("OPENAI_API_KEY") or "unused", max_retries=2, timeout=120)
    summary = {"base_url": base_url}

    ids = [entry.id for entry in client.models.list().data]
    check(ids, "the API lists no model")
    model = model or ids[0]
    check(model in ids, "the API lists %s, not %s" % (ids, model))
    summary["model"] = model

    started = time.monotonic()
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Say hello in five words."}], max_tokens=16
    )
    content = reply.choices[0].message.content or ""
    check(content.strip(), "the chat completion is empty")
    check(reply.usage is not None and reply.usage.completion_tokens >= 1, "no completion tokens were counted")
    summary["chat"] = content
    summary["chat_s"] = round(time.monotonic() - started, 2)

    started = time.monotonic()
    first_token_s = None
    pieces = []
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Count to five."}], max_tokens=16, stream=True
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            if first_token_s is None:
                first_token_s = round(time.monotonic() - started, 3)
            pieces.append(chunk.choices[0].delta.content)
    check(pieces, "the stream carried no content")
    summary["stream"] = "".join(pieces)
    summary["stream_chunks"] = len(pieces)
    summary["stream_first_token_s"] = first_token_s
    print(json.dumps(summary))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:3])
    except Exception as exc:  # one line that says what did not work
        print("FAILED: %s: %s" % (type(exc).__name__, exc))
        sys.exit(1)
