"""Drive the sandbox's API with the official openai client, as a user's app would (only base_url set).

openai_check.py BASE_URL API_KEY MODEL      prints a JSON summary; exits 1 with the reason on failure
"""

import json
import sys
import threading
import time

import openai
from openai import OpenAI


def check(condition, message):
    if not condition:
        raise AssertionError(message)


def timed_chat(client, model, tokens):
    started = time.monotonic()
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "count " * tokens}], max_tokens=tokens
    )
    return time.monotonic() - started, reply


def main(base_url, api_key, model):
    client = OpenAI(base_url=base_url, api_key=api_key, max_retries=0, timeout=60)
    summary = {}

    ids = [m.id for m in client.models.list().data]
    check(model in ids, "models.list() has %s, not %s" % (ids, model))

    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello sandbox"}], max_tokens=8
    )
    content = reply.choices[0].message.content
    check(content.startswith("Stand-in reply to: hello"), "unexpected chat answer %r" % content)
    check(reply.usage.completion_tokens >= 1, "no completion tokens counted")
    summary["chat"] = content

    completion = client.completions.create(model=model, prompt="one two", max_tokens=4)
    check(completion.choices[0].text.strip(), "empty completion")

    pieces = []
    for chunk in client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello sandbox"}], max_tokens=8, stream=True
    ):
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    check(len(pieces) >= 2, "the stream came in %d piece(s)" % len(pieces))
    check("".join(pieces) == content, "streamed %r, not %r" % ("".join(pieces), content))
    summary["stream_chunks"] = len(pieces)

    try:
        OpenAI(base_url=base_url, api_key="wrong-key", max_retries=0).models.list()
        raise AssertionError("a wrong API key was accepted")
    except openai.AuthenticationError:
        summary["wrong_key"] = "refused"

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError:
        summary["unknown_model"] = "refused"

    # One request at a time: three at once take about three times as long as one.
    single, _reply = timed_chat(client, model, 6)
    results = []
    threads = [threading.Thread(target=lambda: results.append(timed_chat(client, model, 6))) for _index in range(3)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    together = time.monotonic() - started
    check(len(results) == 3, "only %d of 3 concurrent requests returned" % len(results))
    check(
        together >= 2.5 * single,
        "3 concurrent requests took %.2fs, one takes %.2fs: not queued" % (together, single),
    )
    summary["one_request_s"] = round(single, 2)
    summary["three_concurrent_s"] = round(together, 2)
    print(json.dumps(summary))


if __name__ == "__main__":
    try:
        main(*sys.argv[1:4])
    except Exception as exc:  # report any failure as one line
        print("FAILED: %s: %s" % (type(exc).__name__, exc))
        sys.exit(1)
