"""A griffe extension for the API reference: fence the `>>>` examples of docstrings.

Our docstrings are plain text with doctest examples (run by pytest). Markdown would
read an example's output such as `[4, 4, 2]` as a link; this turns each run of
`>>>`/`...` lines and their output into a ```pycon block before rendering.
"""
import griffe


def fence_doctests(text: str) -> str:
    out, in_example = [], False
    for line in text.splitlines():
        stripped = line.strip()
        starts = stripped.startswith(">>>")
        if starts and not in_example:
            out += ["```pycon"]
            in_example = True
        elif in_example and not stripped:
            out += ["```"]
            in_example = False
        out.append(line.strip() if in_example else line)
    if in_example:
        out.append("```")
    return "\n".join(out)


class DoctestBlocks(griffe.Extension):
    def on_object(self, *, obj, **kwargs):
        if obj.docstring is not None and ">>>" in obj.docstring.value:
            obj.docstring.value = fence_doctests(obj.docstring.value)
