/** CodeMirror 6 set up for JSON: highlighting, folding, and a parse check as you type. */
import { json, jsonParseLinter } from '@codemirror/lang-json';
import { lintGutter, linter } from '@codemirror/lint';
import { EditorState, type Extension } from '@codemirror/state';
import { keymap } from '@codemirror/view';
import { basicSetup, EditorView } from 'codemirror';

export interface JsonEditorOptions {
  /** The accessible name of the editing area. */
  readonly label: string;
  /** The id of the element that describes it (the JSON check's line). */
  readonly describedBy?: string;
  readonly readOnly?: boolean;
  /** Called after every change of the text. */
  readonly onChange?: (text: string) => void;
  /** Ctrl-S / Cmd-S. */
  readonly onSave?: () => void;
}

/** A JSON editor in `parent`. */
export function jsonEditor(parent: HTMLElement, text: string, options: JsonEditorOptions): EditorView {
  const extensions: Extension[] = [
    basicSetup,
    json(),
    EditorView.lineWrapping,
    EditorView.contentAttributes.of({
      'aria-label': options.label,
      ...(options.describedBy === undefined ? {} : { 'aria-describedby': options.describedBy }),
    }),
  ];
  if (options.readOnly === true) {
    extensions.push(EditorState.readOnly.of(true));
  } else {
    extensions.push(linter(jsonParseLinter(), { delay: 250 }), lintGutter());
  }
  if (options.onChange !== undefined) {
    const onChange = options.onChange;
    extensions.push(EditorView.updateListener.of((update) => update.docChanged && onChange(update.state.doc.toString())));
  }
  if (options.onSave !== undefined) {
    const onSave = options.onSave;
    extensions.push(
      keymap.of([
        {
          key: 'Mod-s',
          preventDefault: true,
          run: () => {
            onSave();
            return true;
          },
        },
      ]),
    );
  }
  return new EditorView({ parent, state: EditorState.create({ doc: text, extensions }) });
}

/** Replaces the whole text. */
export function setText(view: EditorView, text: string): void {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}

/** The JSON.parse error of `text`, or undefined when it is valid JSON. */
export function jsonProblem(text: string): string | undefined {
  try {
    JSON.parse(text);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}
