"""The LLM editor: parsing and checking canned replies (malformed ones included), bounded retries, and one run end to
end through a tiny chat model and its chat template."""

import pytest
from testing_utils.chat import ScriptedChat, tiny_chat_model

from cf_vlm_hf.generation.captions import LLMEditor, build_conversation, check_rewrite, parse_rewrites
from cf_vlm_hf.generation.captions.chat import ChatModel

CAPTION = "a red car next to a bus"


@pytest.mark.parametrize("reply,expected", [
    ("1. a blue car next to a bus\n2. a red car far from a bus", {1: "a blue car next to a bus",
                                                                  2: "a red car far from a bus"}),
    ("2) \"a red car far from a bus\"\n1) 'a blue car next to a bus'", {1: "a blue car next to a bus",
                                                                        2: "a red car far from a bus"}),
    ("Sure! Here they are:\n1 - color: a blue car next to a bus\nRewrite 2: a red car far from a bus\n",
     {1: "a blue car next to a bus", 2: "a red car far from a bus"}),
    ("a blue car next to a bus\na red car far from a bus", {1: "a blue car next to a bus",
                                                            2: "a red car far from a bus"}),  # unnumbered, 2 lines
    ("1. a blue car next to a bus\n3. an extra line\n1. a second answer for 1", {1: "a blue car next to a bus"}),
    ("I cannot help with that.", {}),  # one line for two rewrites: nothing usable
    ("", {}),
])
def test_parse_rewrites(reply, expected):
    assert parse_rewrites(reply, [1, 2], ["color", "relation"]) == expected


@pytest.mark.parametrize("rewrite,others,why", [
    (None, [], "missing from the reply"),
    ("  ...  ", [], "is empty"),
    ("A red car next to a bus.", [], "repeats the caption"),
    ("a blue car next to a bus", ["A blue car next to a bus"], "repeats another rewrite"),
    ("a yellow truck parked far away from the old bus", [], "changes 8 words (one element is at most 3)"),
    ("a blue car next to a bus", [], None),
    ("two red cars next to a bus", [], None),
])
def test_check_rewrite(rewrite, others, why):
    assert check_rewrite(CAPTION, rewrite, others, max_changed_words=3) == why


def test_conversation_has_system_examples_and_question():
    messages = build_conversation(CAPTION, ["color", "relation"])
    assert [m["role"] for m in messages] == ["system"] + ["user", "assistant"] * 3 + ["user"]
    assert messages[-1]["content"].startswith(f'Caption: "{CAPTION}"')
    assert "1. color: change the colour of one object" in messages[-1]["content"]
    assert "2. relation: change one spatial relation" in messages[-1]["content"]
    assert messages[2]["content"].splitlines()[0] == "1. a black dog sitting on a red sofa"


def test_bad_rewrites_are_asked_again_with_the_reason_and_types_are_recorded():
    rewrites = {"color": "a blue car next to a bus", "relation": "a red car far from a bus"}
    types = LLMEditor(ScriptedChat([]), edit_types=["color", "relation"]).requested_types(2, seed=0)
    first_reply = f"1. {rewrites[types[0]]}\n2. {CAPTION}"  # rewrite 2 repeats the caption
    chat = ScriptedChat([first_reply, f'2. "{rewrites[types[1]]}"'])
    editor = LLMEditor(chat, edit_types=["color", "relation"], examples=())
    result = editor.edit(CAPTION, 2, seed=0)
    assert [e.caption for e in result.edits] == [rewrites[t] for t in types]
    assert [e.edit_type for e in result.edits] == types  # the type asked for, in order
    assert result.reason is None
    assert result.rejected == [(CAPTION, f"rewrite 2 ({types[1]}) repeats the caption")]
    follow_up = chat.conversations[1]
    assert follow_up[-2] == {"role": "assistant", "content": first_reply}
    assert follow_up[-1]["content"].startswith("Rewrite(s) 2 cannot be used: 2 repeats the caption. Write them again.")
    assert f"2. {types[1]}:" in follow_up[-1]["content"]
    color = next(e for e in result.edits if e.edit_type == "color")
    assert (color.old, color.replacement, color.target) == ("red", "blue", "red car")  # span and region, from the diff
    assert next(e for e in result.edits if e.edit_type == "relation").target is None  # no single region


def test_retries_are_bounded_and_what_is_missing_is_reported():
    chat = ScriptedChat(lambda conversation: "1. " + CAPTION)  # always repeats the caption
    editor = LLMEditor(chat, edit_types=["color"], examples=(), max_retries=2)
    result = editor.edit_batch([CAPTION, "   "], 1, [0, 1])
    assert len(chat.conversations) == 3  # one question and two retries, for the non-empty caption only
    assert result[0].uneditable
    assert result[0].reason == ("1 of 1 rewrite(s) still unusable after 3 attempt(s): rewrite 1 (color) repeats "
                                "the caption")
    assert len(result[0].rejected) == 3
    assert result[1].uneditable and result[1].reason == "the caption is empty"


def test_requested_types_follow_the_seed_and_repeat_past_the_list():
    editor = LLMEditor(ScriptedChat([]), edit_types=["color", "count", "size"])
    assert sorted(editor.requested_types(3, 7)) == ["color", "count", "size"]
    assert editor.requested_types(5, 7)[:3] == editor.requested_types(5, 7)[3:] + editor.requested_types(5, 7)[2:3]
    assert editor.requested_types(3, 7) == editor.requested_types(3, 7)
    with pytest.raises(ValueError, match="unknown edit type"):
        LLMEditor(ScriptedChat([]), edit_types=["mood"])


def test_end_to_end_through_a_tiny_chat_model(one_thread):
    model, tokenizer = tiny_chat_model()
    chat = ChatModel(model, tokenizer, max_new_tokens=12, batch_size=2)
    captions = ["a red car next to a bus", "two dogs on a sofa", "a small cat"]
    # The random model's replies are byte noise: parsed, rejected, asked again once, and reported.
    editor = LLMEditor(chat, edit_types=["color", "count"], examples=(), max_retries=1)
    results = editor.edit_batch(captions, 2, [1, 2, 3])
    again = editor.edit_batch(captions, 2, [1, 2, 3])
    assert [r.rejected for r in results] == [r.rejected for r in again]  # greedy decoding: deterministic
    for seed, result in zip([1, 2, 3], results):
        asked = editor.requested_types(2, seed)
        made = [edit.edit_type for edit in result.edits]
        assert made == [t for t in asked if t in made]  # accepted rewrites keep the asked types, in order
        for edit in result.edits:
            assert check_rewrite(edit.source, edit.caption) is None
        missing = [t for t in asked if t not in made]
        if missing:  # each missing rewrite is named, with its last problem
            assert result.reason.startswith(f"{len(missing)} of 2 rewrite(s) still unusable after 2 attempt(s)")
            assert all(f"({t})" in result.reason for t in missing)
            assert len(result.rejected) >= 2 * len(missing)  # asked, then asked again
    # The prompt went through the model's own chat template.
    rendered = tokenizer.apply_chat_template(build_conversation(captions[0], ["color"], ()), tokenize=False,
                                             add_generation_prompt=True)
    assert rendered.startswith("<|im_start|>system\n") and rendered.endswith("<|im_start|>assistant\n")
    # A batch answers like one conversation at a time (left padding).
    conversations = [build_conversation(c, ["color"], ()) for c in captions]
    assert chat(conversations) == [chat([c])[0] for c in conversations]


def test_chat_model_needs_a_chat_template():
    model, tokenizer = tiny_chat_model()
    tokenizer.chat_template = None
    with pytest.raises(ValueError, match="has no chat template"):
        ChatModel(model, tokenizer)


def test_from_pretrained_loads_a_saved_chat_model(tmp_path, one_thread):
    model, tokenizer = tiny_chat_model()
    model.save_pretrained(tmp_path / "chat")
    tokenizer.save_pretrained(tmp_path / "chat")
    loaded = LLMEditor.from_pretrained(str(tmp_path / "chat"), edit_types=["color"], max_retries=0, device="cpu",
                                       max_new_tokens=8)
    in_memory = LLMEditor(ChatModel(model, tokenizer, max_new_tokens=8), edit_types=["color"], max_retries=0)
    assert loaded.name == f"llm:{tmp_path / 'chat'}"
    conversation = build_conversation(CAPTION, ["color"], ())
    reply = loaded.chat([conversation])[0]
    assert reply and reply == in_memory.chat([conversation])[0]  # the same weights, template and decoding
    with pytest.raises(FileNotFoundError, match="chat model"):
        LLMEditor.from_pretrained(str(tmp_path / "missing"))
