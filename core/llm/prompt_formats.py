"""Prompt text for SageMaker endpoints that take `inputs` rather than chat messages.

- Llama 3 chat template (Llama 3, 3.1, 3.2 Instruct and chat fine-tunes):
  `<|begin_of_text|>` then, per message, `<|start_header_id|>{role}<|end_header_id|>\n\n{content}<|eot_id|>`,
  then the open assistant header. Content is trimmed, as the tokenizer's chat template does.
- JumpStart instruction template (models fine-tuned with `instruction_tuned=True`): the dataset's
  template.json prompt with {instruction} and {context} filled in, plus "\n\n### Response:\n",
  the demarcation key the trainer put between prompt and completion.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

BEGIN_OF_TEXT = "<|begin_of_text|>"
EOT = "<|eot_id|>"
ROLES = ("system", "user", "assistant")

DEFAULT_INSTRUCTION_PROMPT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{context}"
)
RESPONSE_MARKER = "\n\n### Response:\n"

Message = Mapping[str, str]


def _header(role: str) -> str:
    return f"<|start_header_id|>{role}<|end_header_id|>\n\n"


def llama3_chat_prompt(messages: Sequence[Message], *, add_generation_prompt: bool = True) -> str:
    """The Llama 3 chat template applied to OpenAI-style messages."""
    parts = [BEGIN_OF_TEXT]
    for message in messages:
        role = message["role"]
        if role not in ROLES:
            raise ValueError(f"unknown message role {role!r}; expected one of {', '.join(ROLES)}")
        parts.append(_header(role) + str(message["content"]).strip() + EOT)
    if add_generation_prompt:
        parts.append(_header("assistant"))
    return "".join(parts)


def instruction_prompt(
    messages: Sequence[Message],
    template_prompt: str = DEFAULT_INSTRUCTION_PROMPT,
) -> str:
    """A JumpStart instruction-tuning prompt: the last user message is {instruction}, the system
    message (if any) is {context}; earlier turns are dropped, as the model never saw any."""
    user = [m for m in messages if m["role"] == "user"]
    if not user:
        raise ValueError("an instruction prompt needs a user message")
    system = "\n\n".join(str(m["content"]).strip() for m in messages if m["role"] == "system")
    prompt = template_prompt.replace("{instruction}", str(user[-1]["content"]).strip())
    prompt = prompt.replace("{context}", system)
    return prompt + RESPONSE_MARKER


def strip_end_of_turn(text: str) -> str:
    """Remove the end-of-turn token the server may leave at the end of a reply."""
    while text.endswith(EOT):
        text = text[: -len(EOT)]
    return text
