"""`make demo` / `make demo-down`: the whole product on this machine, no cloud account and no GPU.

  python3 tests/e2e/demo.py up     provision a sandbox through the Linode API emulator, wait for its first
                                   boot, validate it, print the chat URL, the API base URL and one answer
  python3 tests/e2e/demo.py down   destroy it and stop what `up` started

AI_SANDBOX_LAB_PROFILE=real-scale runs it at real scale (tests/e2e/profiles/real-scale.yml).

The same playbooks provision a real RTX 4000 Ada Linode: see the README ("A real GPU Linode").
"""

import json
import sys
import time
import urllib.request

from lab import HF_TOKEN, Lab, say

LABEL = "ai-sandbox-demo"

STAND_IN_NOTE = """\
This demo runs without a GPU and without a cloud account, so three things stand in for what it cannot
reach: the Linode API (an emulator held to Linode's OpenAPI spec; the "Linode" is a Debian 12 systemd
container), the Hugging Face Hub, and vLLM's engine (a stand-in that speaks the same OpenAI API and
answers "Stand-in reply to: ..."; real vLLM needs an NVIDIA GPU). Everything else is the product:
provision.yml, the StackScript, ansible-pull, the four roles, Docker Compose and the real Open WebUI."""

REAL_LINODE = """\
The same commands on a real RTX 4000 Ada Linode (Mistral-7B-Instruct-v0.3, a gated model):
  export LINODE_TOKEN=...           # Cloud Manager > Profile > API Tokens (Linodes, StackScripts, Firewalls)
  export HF_TOKEN=hf_...            # after accepting the model's conditions on huggingface.co
  ansible-playbook oneclick.ai_sandbox.provision -e allowed_cidrs=$(curl -s https://ifconfig.me)/32
  ansible-playbook -i inventory/linode.yml oneclick.ai_sandbox.validate
  ansible-playbook oneclick.ai_sandbox.destroy -e label=ai-sandbox-1"""


def chat(api_url, model):
    request = urllib.request.Request(
        api_url + "/chat/completions",
        data=json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello, sandbox!"}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())["choices"][0]["message"]["content"]


def up():
    print(STAND_IN_NOTE + "\n", flush=True)
    lab = Lab("demo", 8123)
    lab.down()  # what an earlier `make demo` left (nothing on a fresh machine, where no engine runs yet)
    lab.up()
    started = time.time()
    say("provisioning %s (provision.yml against the emulator)" % LABEL)
    if lab.profile.real_scale:
        # Mistral-7B-Instruct-v0.3 is gated: the stand-in Hub grants this token access.
        lab.provision(LABEL, lab.profile.model, "-e", "hf_token=" + HF_TOKEN)
    else:
        lab.provision(LABEL, lab.profile.model)
    say("first boot: the StackScript runs ansible-pull and the site playbook (about 3 minutes here)")
    status = lab.wait_first_boot([LABEL], timeout=2400)[LABEL]
    if status["state"] != "ready":
        print(lab.read(LABEL, "/etc/motd"))
        sys.exit("The demo sandbox failed in phase %s: %s" % (status["phase"], status.get("reason")))
    say("ready %.0f s after provisioning; validating from this machine (validate.yml)" % (time.time() - started))
    lab.playbook("validate.yml", "-e", "ai_sandbox_hosts=" + LABEL, inventory=lab.inventory_file())
    facts = json.loads(lab.read(LABEL, "/var/lib/ai-sandbox/sandbox.json"))
    answer = chat(facts["api_url"], facts["model"])
    print("\n" + lab.read(LABEL, "/etc/motd"))
    print("Chat in your browser:  %s" % facts["chat_url"])
    print("OpenAI API base URL:   %s   (model %s)" % (facts["api_url"], facts["model"]))
    print("One chat request:      %r -> %r" % ("Hello, sandbox!", answer))
    print("Follow the first boot: docker exec %s tail -n 50 /var/log/ai-sandbox/first-boot.log" % lab.machine(LABEL))
    print("Remove everything:     make demo-down\n")
    print(REAL_LINODE)


def down():
    lab = Lab("demo", 8123)
    try:
        if lab.servers_running():
            print(lab.playbook("destroy.yml", "-e", "label=" + LABEL, "-e", "confirm=yes").stdout[-600:])
    finally:
        lab.down()
        lab.remove()
    say("the demo sandbox, its machine and the lab's servers are gone (the download caches stay)")


if __name__ == "__main__":
    {"up": up, "down": down}[sys.argv[1] if len(sys.argv) > 1 else "up"]()
