//! Chat-template rendering details that transformers defines: template sources (file, config
//! string, named list, ChatML fallback), Python-style `tojson`, `strftime_now`, Python string
//! methods, loop controls, `{% generation %}` markers. Runs natively and in headless Chromium.
use svdtune::data::{ChatTemplate, Message};

#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test;
#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn conv() -> Vec<Message> {
    vec![Message::user(" Hi there "), Message::assistant("Yo")]
}

fn cfg_with(template: &str) -> String {
    serde_json::json!({"bos_token": "<s>", "eos_token": {"content": "</s>", "__type": "AddedToken"},
        "chat_template": template})
    .to_string()
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn template_sources() {
    // The jinja file wins over the config.
    let t = ChatTemplate::from_files(
        &cfg_with("config"),
        Some("file {{ bos_token }}{{ eos_token }}"),
    )
    .unwrap();
    assert_eq!(t.render(&conv(), false).unwrap(), "file <s></s>");
    assert_eq!((t.bos_token(), t.eos_token()), (Some("<s>"), Some("</s>")));
    // The list form: the entry named "default".
    let cfg = serde_json::json!({"chat_template": [
        {"name": "tool_use", "template": "tools"},
        {"name": "default", "template": "default"}]})
    .to_string();
    let t = ChatTemplate::from_files(&cfg, None).unwrap();
    assert_eq!(t.render(&conv(), false).unwrap(), "default");
    let cfg = serde_json::json!({"chat_template": [{"name": "rag", "template": "x"}]}).to_string();
    let e = ChatTemplate::from_files(&cfg, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("lists chat templates [rag] but none is named 'default'"),
        "{e}"
    );
    // No template: ChatML with a notice.
    let t = ChatTemplate::from_files("{}", None).unwrap();
    assert!(t.notice().unwrap().contains("using ChatML"));
    assert_eq!(
        t.render(&conv(), true).unwrap(),
        "<|im_start|>user\n Hi there <|im_end|>\n<|im_start|>assistant\nYo<|im_end|>\n<|im_start|>assistant\n"
    );
    // Broken inputs are errors, not panics.
    assert!(ChatTemplate::from_files("not json", None).is_err());
    let e = ChatTemplate::from_files(&cfg_with("{% for %}"), None)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("chat template: cannot compile the chat template"),
        "{e}"
    );
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn jinja_like_transformers() {
    // trim_blocks + lstrip_blocks, Python string methods, loop controls, trailing newline dropped.
    let src = "{% for m in messages %}\n    {% if m.role == 'user' %}\n[{{ m.content.strip() }}|{{ m.content | trim }}|{{ m.role.upper() }}|{{ m.content.startswith(' Hi') }}]\n    {% else %}{% break %}{% endif %}\n{% endfor %}\n";
    let t = ChatTemplate::from_files(&cfg_with(src), None).unwrap();
    assert_eq!(
        t.render(&conv(), false).unwrap(),
        "[Hi there|Hi there|USER|True]\n"
    );
    // {% generation %} markers render as nothing, whitespace control kept.
    let src = "{% for m in messages %}{{ m.role }}:{%- generation -%} {{ m.content }} {%- endgeneration %};{% endfor %}";
    let t = ChatTemplate::from_files(&cfg_with(src), None).unwrap();
    assert_eq!(
        t.render(&conv(), false).unwrap(),
        "user: Hi there ;assistant:Yo;"
    );
    // Undefined tools / documents are none, as transformers passes them.
    let t = ChatTemplate::from_files(
        &cfg_with("{{ tools is none }}{{ documents is none }}{% if tools %}x{% endif %}"),
        None,
    )
    .unwrap();
    assert_eq!(t.render(&conv(), false).unwrap(), "TrueTrue");
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn tojson_like_python_json_dumps() {
    // Expected strings are what transformers' own Jinja environment renders for this source.
    let src = r#"{% set x = {"b": [1.5, "x<y & 'z'", none, true], "a": 1, "é": "\n\t\"", "f": 1e-7, "g": 2.0} %}{{ x | tojson }}|{{ x | tojson(indent=2) }}|{{ {"k": []} | tojson(sort_keys=true) }}|{{ [1, 2] | tojson(separators=[",", ":"]) }}"#;
    let t = ChatTemplate::from_files(&cfg_with(src), None).unwrap();
    let want = concat!(
        r#"{"b": [1.5, "x<y & 'z'", null, true], "a": 1, "é": "\n\t\"", "f": 1e-07, "g": 2.0}|"#,
        "{\n  \"b\": [\n    1.5,\n    \"x<y & 'z'\",\n    null,\n    true\n  ],\n  \"a\": 1,\n  \"é\": \"\\n\\t\\\"\",\n  \"f\": 1e-07,\n  \"g\": 2.0\n}|",
        r#"{"k": []}|[1,2]"#
    );
    assert_eq!(t.render(&conv(), false).unwrap(), want);
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn strftime_now_and_raise_exception() {
    let t = ChatTemplate::from_files(&cfg_with("{{ strftime_now('%d %b %Y') }}"), None).unwrap();
    t.set_time(Some(1_721_952_000)); // 2024-07-26
    assert_eq!(t.render(&conv(), false).unwrap(), "26 Jul 2024");
    t.set_time(None);
    let now = t.render(&conv(), false).unwrap();
    assert_eq!(now.len(), 11, "{now}");
    assert!(now[7..].parse::<u32>().unwrap() >= 2025, "{now}");
    let t = ChatTemplate::from_files(
        &cfg_with("{{ raise_exception('No system role allowed') }}"),
        None,
    )
    .unwrap();
    assert_eq!(
        t.render(&conv(), false).unwrap_err().to_string(),
        "chat template: No system role allowed"
    );
    // a message of megabytes is cut (a skipped record's reason is kept for the report)
    let t =
        ChatTemplate::from_files(&cfg_with("{{ raise_exception('é' * 25000000) }}"), None).unwrap();
    let msg = t.render(&conv(), false).unwrap_err().to_string();
    let expected = format!(
        "chat template: {}… (50000000 bytes in all)",
        "é".repeat(500)
    );
    assert!(
        msg == expected,
        "{} bytes: {}",
        msg.len(),
        &msg[msg.len() - 40..]
    );
}

/// A string compared with itself is not read: 120,000 comparisons of one 10 MB string (1.2 TB
/// to read, a minute or more, before) take well under a second.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_string_equals_itself_without_being_read() {
    let source = "{% set l = ['x' * 10000000] * 200 %}{% for a in l %}{% for b in l %}{{ 1 if a == b and b == a and a == a }}{% endfor %}{% endfor %}";
    let t = ChatTemplate::from_files(&cfg_with(source), None).unwrap();
    let start = std::time::Instant::now();
    assert_eq!(t.render(&conv(), false).unwrap(), "1".repeat(40_000));
    let took = start.elapsed();
    assert!(took.as_secs() < 20, "{took:?}");
}

/// A hostile template (endless loops, huge output, deep recursion) stops with a message, quickly.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn hostile_templates_are_bounded() {
    let cases = [
        (
            "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}{% endfor %}{% endfor %}{% endfor %}",
            "did not finish within",
        ),
        (
            "{% for i in range(10000) %}{% for j in range(1000) %}{{ 'x' * 1000 }}{% endfor %}{% endfor %}",
            "wrote more than 8 MiB",
        ),
        // Out of steps on 64-bit targets, refused as too large on wasm32.
        (
            "{{ 'x' * 1000000000000 }}",
            "did not finish within|too large",
        ),
        (
            "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
            "recursion",
        ),
    ];
    for (source, expected) in cases {
        let t = ChatTemplate::from_files(&cfg_with(source), None).unwrap();
        let msg = t.render(&conv(), false).unwrap_err().to_string();
        assert!(
            expected.split('|').any(|e| msg.contains(e)),
            "{source}: {msg}"
        );
    }
}

/// Regressions found by fuzzing the template (`fuzz/`): tag marks that overlap, and `import … as`
/// an expression, are errors, not panics.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn overlapping_tag_marks_are_errors() {
    // the last one panicked inside minijinja (`unreachable!` compiling `m % s` as an assignment)
    for source in [
        "{%}",
        "x {%} y %}",
        "{%%}",
        "{%-%}",
        "{% generation %}{%}",
        "{% import e as m %s %}",
    ] {
        let result = ChatTemplate::from_files(&cfg_with(source), None)
            .and_then(|t| t.render(&conv(), false));
        assert!(result.is_err(), "{source}: {result:?}");
    }
}

/// Hostile values a template builds: many references to one large string turned into text, lists
/// that double, values nested a million levels deep, expression chains 100,000 links long, a huge
/// `tojson`. Each ends with a message instead of aborting on memory or overflowing the stack.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn hostile_values_are_bounded() {
    let nest =
        "{% set ns = namespace(a=1) %}{% for i in range(99) %}{% set ns.a = [ns.a] %}{% endfor %}";
    let wraps = |n: usize| format!("{}ns.a{}", "[".repeat(n), "]".repeat(n));
    let big_dict = format!(
        "{{{}}}",
        (0..10_000)
            .map(|i| format!("'k{i}': {i}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let params = (0..10_000)
        .map(|i| format!("a{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut cases = vec![
        // found by fuzzing: a 7.5e7-item list formatted at compile time
        (
            "{{ 0 if 75000000e0 * ['x'] in 'y' }}".to_string(),
            "did not finish within",
        ),
        // found by fuzzing the patched engine: 7.5e6 items formatted within the old budget
        (
            "{{ 0 if 7507000e0000000000 * ['c\x08nteny'] in 'x' }}".to_string(),
            "did not finish within",
        ),
        (
            "{% set ns = namespace(a=['x']) %}{% for i in range(60) %}{% set ns.a = ns.a + ns.a %}{% endfor %}{{ ns.a|length }}".to_string(),
            "a stored value stands for more than 1000000 items",
        ),
        (
            "{% set ns = namespace(a=1) %}{% for j in range(5) %}{% for i in range(100000) %}{% set ns.a = [ns.a] %}{% endfor %}{% endfor %}".to_string(),
            "a stored value nests more than 100 levels deep",
        ),
        (
            "{% set ns = namespace(a=1) %}{% for i in range(500) %}{% set ns.a = namespace(x=ns.a) %}{% endfor %}".to_string(),
            "a namespace cannot hold another namespace",
        ),
        (
            format!("{{% set x = 1 %}}{}", "{% set x = [x] %}".repeat(300)),
            "a stored value nests more than 100 levels deep",
        ),
        // a chain of namespaces built forward, and a namespace holding itself
        (
            "{% set head = namespace() %}{% set ns = namespace(cur=head) %}{% for i in range(100000) %}{% set n2 = namespace() %}{% set c = ns.cur %}{% set c.next = n2 %}{% set ns.cur = n2 %}{% endfor %}".to_string(),
            "a namespace cannot hold another namespace",
        ),
        (
            "{% set a = namespace() %}{% set a.x = a %}{{ a == a.x }}".to_string(),
            "a namespace cannot hold another namespace",
        ),
        // one list shared twice per level: 2^40 items to compare
        (
            format!("{{% set x = 1 %}}{{% set y = 1 %}}{}{{{{ x == y }}}}", "{% set x = [x, x] %}{% set y = [y, y] %}".repeat(40)),
            "a stored value stands for more than 1000000 items",
        ),
        (
            "{% block a %}{{ self.a() }}{% endblock %}".to_string(),
            "recursion limit exceeded",
        ),
        (
            "{{ (['x' * 1000000] * 200)|sum(start='')|length }}".to_string(),
            "did not finish within",
        ),
        (
            "{{ ('{0}' * 100000).format('x' * 100000)|length }}".to_string(),
            "str.format: the result would be larger than 8 MiB",
        ),
        (
            "{{ '{:>99999999999}'.format(1) }}".to_string(),
            "str.format: width or precision 99999999999 is above 4096",
        ),
        (
            "{{ (['x'] * 100000)|map(attribute='0.' * 1000000 ~ '0')|list|length }}".to_string(),
            "did not finish within",
        ),
        // comparing two equal 10 MB strings in a loop
        (
            "{% set a = 'x' * 10000000 %}{% set b = 'x' * 9999999 ~ 'x' %}{% for i in range(100000) %}{{ 1 if a == b }}{% endfor %}".to_string(),
            "did not finish within",
        ),
        (
            "{{ (',' * 2000000).split(',')|length }}".to_string(),
            "str.split: more than 1000000 pieces",
        ),
        (
            "{{ [1]|tojson(indent=1000000000000) }}".to_string(),
            "indent 1000000000000 is wider than 64",
        ),
        (
            format!("{nest}{{{{ {}|tojson }}}}", wraps(40)),
            "nests more than 128 levels",
        ),
        (
            "{{ (['x' * 1000000] * 100)|tojson }}".to_string(),
            "larger than 8 MiB",
        ),
        // reading one large string 100,000 times over
        (
            "{{ (['x' * 1000000] * 100000)|unique|length }}".to_string(),
            "did not finish within",
        ),
        (
            "{{ 0 if ('x' * 999999 ~ 'y') in (['x' * 1000000] * 100000) }}".to_string(),
            "did not finish within",
        ),
        (
            "{{ ''.join(['x' * 1000000] * 100000) }}".to_string(),
            "str.join: the joined string would be larger than 8 MiB",
        ),
        // deeper than any value a namespace may hold: formatting stops
        (
            format!("{nest}{{{{ {}|string }}}}", wraps(60)),
            "did not finish within",
        ),
        // reading a 1 MB string, or walking a 100,000-item lazy list, 300,000 times over for the
        // price of one step each: a test, indexing and slicing from the end
        (
            big_loop("{% set s = 'x' * 1000000 %}", "1 if s is lower"),
            "did not finish within",
        ),
        (
            big_loop("{% set s = 'x' * 1000000 %}", "s[-1]"),
            "did not finish within",
        ),
        (
            big_loop("{% set l = ['x'] * 100000 %}", "l[-1]"),
            "did not finish within",
        ),
        (
            big_loop("{% set l = ['x'] * 100000 %}", "l[99990:]|first"),
            "did not finish within",
        ),
        // comparing or hashing two equal 100,000-item lists, 300,000 times
        (
            big_loop(
                "{% set l = range(100000)|list %}{% set m = range(100000)|list %}",
                "1 if l is eq(m)",
            ),
            "did not finish within",
        ),
        (
            big_loop(
                "{% set l = range(100000)|list %}{% set m = range(100000)|list %}",
                "1 if {'a': [l]} == {'a': [m]}",
            ),
            "did not finish within",
        ),
        (
            big_loop("{% set l = range(100000)|list %}", "{(l,): 1}|length"),
            "did not finish within",
        ),
        // a chain of 100,000 parts looked into, indexed or walked; a zip of 100,000 arguments
        (
            big_loop("{% set c = {'a': 1}|chain(*([{}] * 100000)) %}", "1 if c.zz"),
            "did not finish within",
        ),
        (
            big_loop("{% set c = [1]|chain(*([[]] * 100000)) %}", "c[1]"),
            "did not finish within",
        ),
        (
            big_loop("{% set z = []|zip(*([[]] * 100000)) %}", "z|first"),
            "did not finish within",
        ),
        // case-insensitive sorting of two equal 1 MB strings
        (
            big_loop(
                "{% set a = 'x' * 1000000 %}{% set b = 'x' * 1000000 %}",
                "[a, b]|sort|length",
            ),
            "did not finish within",
        ),
        // copying a 10,000-entry map into a namespace or keyword arguments; a macro's 10,000
        // parameters listed on each access
        (big_loop(&format!("{{% set d = {big_dict} %}}"), "namespace(d).x"), "did not finish within"),
        (big_loop(&format!("{{% set d = {big_dict} %}}"), "namespace(**d).x"), "did not finish within"),
        (
            big_loop(&format!("{{% macro m({params}) %}}{{% endmacro %}}"), "1 if m.arguments"),
            "did not finish within",
        ),
        // Python methods comparing 100,000 items for one step
        (
            big_loop("", "1 if 'x'.startswith(['y'] * 100000)"),
            "did not finish within",
        ),
        (
            big_loop("{% set l = ([0] * 100000)|list %}", "l.count(1)"),
            "did not finish within",
        ),
        // 30 million pieces would be built before being charged
        (
            "{{ ('x' * 30000000)|split('x')|length }}".to_string(),
            "did not finish within",
        ),
        (
            "{{ ('\n' * 30000000)|lines|length }}".to_string(),
            "did not finish within",
        ),
        // lazy iterables stored into themselves: each level is one more level of nesting
        (
            "{% set ns = namespace(z=[1]) %}{% for i in range(100000) %}{% set ns.z = ns.z|chain('a') %}{% endfor %}".to_string(),
            "a stored value nests more than 100 levels deep",
        ),
        (
            "{% set ns = namespace(z=[1]|chain('a')) %}{% for i in range(100000) %}{% set ns.z = ns.z|zip('a') %}{% endfor %}".to_string(),
            "a stored value nests more than 100 levels deep",
        ),
        // pretty-printing 90 levels deep: every line passes through every level's indentation
        (
            "{% set ns = namespace(a=['a'] * 100000) %}{% for i in range(90) %}{% set ns.a = [ns.a] %}{% endfor %}{{ ns.a|pprint|length }}".to_string(),
            "did not finish within",
        ),
    ];
    // Each needs a few hundred MB before its budget runs out; natively only.
    if cfg!(not(target_arch = "wasm32")) {
        for source in [
            "{{ ((['x' * 1000000] * 100000) ~ '')|length }}",
            "{{ 0 if (['x' * 1000000] * 100000) in 'y' }}",
            "{{ (['x' * 1000000] * 100000)|string|length }}",
            "{{ (['x' * 1000000] * 100000)|join|length }}",
            "{{ ({'a': 'x' * 1000000}.items()|list * 100000)|string|length }}",
            "{{ ('%s' * 100000)|format(*(['x' * 100000] * 100000))|length }}",
        ] {
            cases.push((source.to_string(), "did not finish within"));
        }
    }
    for (source, expected) in cases {
        let t = ChatTemplate::from_files(&cfg_with(&source), None).unwrap();
        let msg = t.render(&conv(), false).unwrap_err().to_string();
        assert!(msg.contains(expected), "{source}: {msg}");
    }
    // Stripping a long set of characters is linear; Python's semantics are kept.
    let source = "{{ ('x' * 1000000).strip('y' * 1000000 ~ 'x')|length }} {{ ('x' * 1000000)|trim('y' * 1000000 ~ 'x')|length }} {{ 'xaby'.strip('yx') }} {{ 'xaby'.lstrip('yx') }} {{ 'xaby'.rstrip('yx') }} {{ 'a, b'.split(', ') }} {{ '{:>4}|{}'.format('a', 'b') }}";
    let t = ChatTemplate::from_files(&cfg_with(source), None).unwrap();
    assert_eq!(
        t.render(&conv(), false).unwrap(),
        "0 0 ab aby xab ['a', 'b']    a|b"
    );
    // Sorting many references to one large string compares them without reading it.
    let source =
        "{{ (['x' * 1000000] * 10000)|sort|length }} {{ (['x' * 1000000] * 10000)|max|length }}";
    let t = ChatTemplate::from_files(&cfg_with(source), None).unwrap();
    assert_eq!(t.render(&conv(), false).unwrap(), "10000 1000000");
}

/// A record of several MB renders in a template that reads each message many times (as Qwen3's
/// does to split off its reasoning): the step budget grows with the conversation's text.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn large_records_get_a_larger_budget() {
    let source = "{%- for m in messages %}{%- set content = m.content if m.content is string else '' %}\
        {%- if m.role == 'assistant' and '</think>' in content %}\
        {%- set reasoning = content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}\
        {%- set content = content.split('</think>')[-1].lstrip('\\n') %}\
        {{- '<|im_start|>' ~ m.role ~ '\\n<think>\\n' ~ reasoning.strip('\\n') ~ '\\n</think>\\n\\n' ~ content.lstrip('\\n') ~ '<|im_end|>\\n' }}\
        {%- else %}{{- '<|im_start|>' ~ m.role ~ '\\n' ~ content ~ '<|im_end|>\\n' }}{%- endif %}{%- endfor %}";
    let t = ChatTemplate::from_files(&cfg_with(source), None).unwrap();
    // 6 MB of text: about 1.2 million steps, more than a small conversation may take
    let (r, y) = ("r ".repeat(1_500_000), "y ".repeat(1_500_000));
    let answer = format!("<think>{r}</think>{y}");
    let conv = [Message::user("hi"), Message::assistant(&answer)];
    let expected = format!(
        "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n{r}\n</think>\n\n{y}<|im_end|>\n"
    );
    assert!(t.render(&conv, false).unwrap() == expected);
    // a template that loops without end on that record still stops
    let endless = format!(
        "{source}{{% for i in range(100000) %}}{{% for j in range(100000) %}}{{% endfor %}}{{% endfor %}}"
    );
    let t = ChatTemplate::from_files(&cfg_with(&endless), None).unwrap();
    let msg = t.render(&conv, false).unwrap_err().to_string();
    assert!(msg.contains("did not finish within 2500007 steps"), "{msg}");
}

/// `{{ expr }}` 300,000 times after `setup`.
fn big_loop(setup: &str, expr: &str) -> String {
    format!(
        "{setup}{{% for j in range(1000) %}}{{% for i in range(300) %}}{{{{ {expr} }}}}{{% endfor %}}{{% endfor %}}"
    )
}

/// `str.join` (bounded here instead of pycompat's) joins like Python, items written as `{{ x }}`.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn string_join_like_python() {
    let source = "{{ ', '.join(['a', 'b', 'c']) }}|{{ ''.join([]) }}|{{ '-'.join([1, 2]) }}|{{ 'ab'.upper() }}";
    let t = ChatTemplate::from_files(&cfg_with(source), None).unwrap();
    assert_eq!(t.render(&conv(), false).unwrap(), "a, b, c||1-2|AB");
}

/// Chains that the parser builds in a loop (`x|f|f|…`, `a + a + …`, `x.a.a…`, `not not …`) are
/// refused when the template loads, before compiling them could overflow the stack.
#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test)]
fn long_expression_chains_are_refused() {
    for (head, link, tail) in [
        ("1", "|abs", ""),
        ("1", " + 1", ""),
        ("x", ".a", ""),
        ("", "not ", "1"),
        ("1", " if 1 else 2", ""),
    ] {
        let source = format!("{{{{ {head}{}{tail} }}}}", link.repeat(100_000));
        let err = ChatTemplate::from_files(&cfg_with(&source), None)
            .and_then(|t| t.render(&conv(), false))
            .unwrap_err()
            .to_string();
        assert!(err.contains("recursion"), "{head}{link}…: {err}");
    }
}
