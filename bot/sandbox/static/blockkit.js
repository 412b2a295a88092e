// Block Kit as Slack draws it, from the JSON the bot really posted. No framework, no build.
"use strict";

const EMOJI = {
  alarm_clock: "⏰", arrow_right: "➡️", bust_in_silhouette: "👤", calendar: "📅",
  compass: "🧭", double_vertical_bar: "⏸️", eyes: "👀", fire: "🔥", inbox_tray: "📥",
  label: "🏷️", large_green_circle: "🟢", leftwards_arrow_with_hook: "↩️", loudspeaker: "📢",
  no_entry_sign: "🚫", page_facing_up: "📄", raising_hand: "🙋", rotating_light: "🚨",
  stopwatch: "⏱️", telephone_receiver: "📞", trophy: "🏆", warning: "⚠️", wave: "👋",
  white_check_mark: "✅", x: "❌", tada: "🎉", hourglass: "⌛", bar_chart: "📊",
  chart_with_upwards_trend: "📈", email: "📧", memo: "📝", star: "⭐", zzz: "💤",
  "managers-chart": "📊", managers: "🧑‍💼", returns: "↩️",
};

function esc(text) {
  return String(text)
    .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}

function unslack(text) {
  return text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
}

function emojify(html) {
  return html.replace(/:([a-z0-9_+-]+):/g, (all, name) => EMOJI[name] || all);
}

const BlockKit = {
  people: {},      // user id -> display name, for <@U…> mentions
  channels: {},    // channel id -> name, for <#C…>

  mrkdwn(text) {
    return String(text || "").split(/(<[^<>]*>)/).map((part) => {
      if (part.length > 2 && part.startsWith("<") && part.endsWith(">")) {
        return this.token(part.slice(1, -1));
      }
      let html = esc(unslack(part));
      html = html.replace(/```([\s\S]+?)```/g, "<pre>$1</pre>");
      html = html.replace(/`([^`\n]+)`/g, "<code>$1</code>");
      html = html.replace(/(^|[\s(>])\*([^*\n]+)\*(?=$|[\s).,:;!?<])/g, "$1<b>$2</b>");
      html = html.replace(/(^|[\s(>])_([^_\n]+)_(?=$|[\s).,:;!?<])/g, "$1<i>$2</i>");
      html = html.replace(/(^|[\s(>])~([^~\n]+)~(?=$|[\s).,:;!?<])/g, "$1<s>$2</s>");
      html = html.replace(/^&gt; ?(.*)$/gm, "<blockquote>$1</blockquote>");
      return emojify(html).replace(/\n/g, "<br>");
    }).join("");
  },

  token(inner) {
    const [target, label] = inner.split("|", 2);
    if (target.startsWith("@")) {
      const id = target.slice(1);
      return `<span class="mention">@${esc(this.people[id] || label || id)}</span>`;
    }
    if (target.startsWith("#")) {
      const id = target.slice(1);
      return `<span class="mention">#${esc(this.channels[id] || label || id)}</span>`;
    }
    if (target.startsWith("!subteam^")) return `<span class="mention">@${esc(label || "group")}</span>`;
    if (target.startsWith("!date^")) return esc(unslack(label || ""));
    if (target.startsWith("!")) return `<span class="mention">@${esc(target.slice(1))}</span>`;
    const url = unslack(target);
    const shown = esc(unslack(label || target.replace(/^mailto:/, "")));
    if (/^(https?:|mailto:|tel:)/.test(url)) {
      return `<a href="${esc(url)}" target="_blank" rel="noopener">${shown}</a>`;
    }
    return shown;
  },

  text(object) {
    if (!object) return "";
    if (object.type === "mrkdwn") return this.mrkdwn(object.text);
    const html = esc(object.text || "");
    return object.emoji === false ? html : emojify(html);
  },

  // ctx: {onAction(action), errors: {block_id: message}, form: true when inside a modal}
  blocks(blocks, ctx) {
    const root = document.createElement("div");
    root.className = "blocks";
    (blocks || []).forEach((block, index) => {
      const blockId = block.block_id || `block-${index}`;
      const el = this.block(block, blockId, ctx);
      el.classList.add("block", `block-${block.type}`);
      el.dataset.blockId = blockId;
      root.appendChild(el);
    });
    return root;
  },

  block(block, blockId, ctx) {
    const el = document.createElement("div");
    switch (block.type) {
      case "header":
        el.innerHTML = this.text(block.text);
        break;
      case "section": {
        const body = document.createElement("div");
        body.className = "section-body";
        if (block.text) {
          const text = document.createElement("div");
          text.className = "section-text";
          text.innerHTML = this.text(block.text);
          body.appendChild(text);
        }
        if (block.fields) {
          const fields = document.createElement("div");
          fields.className = "fields";
          for (const field of block.fields) {
            const cell = document.createElement("div");
            cell.className = "field";
            cell.innerHTML = this.text(field);
            fields.appendChild(cell);
          }
          body.appendChild(fields);
        }
        el.appendChild(body);
        if (block.accessory) {
          const accessory = this.element(block.accessory, blockId, ctx);
          accessory.classList.add("accessory");
          el.appendChild(accessory);
        }
        break;
      }
      case "context":
        for (const element of block.elements || []) {
          if (element.type === "image") {
            el.appendChild(this.image(element.image_url, element.alt_text, "context-image"));
          } else {
            const span = document.createElement("span");
            span.innerHTML = this.text(element);
            el.appendChild(span);
          }
        }
        break;
      case "divider":
        el.appendChild(document.createElement("hr"));
        break;
      case "image": {
        const figure = document.createElement("figure");
        if (block.title) {
          const caption = document.createElement("figcaption");
          caption.innerHTML = this.text(block.title);
          figure.appendChild(caption);
        }
        figure.appendChild(this.image(block.image_url, block.alt_text, "block-image-img"));
        el.appendChild(figure);
        break;
      }
      case "actions":
        for (const element of block.elements || []) {
          el.appendChild(this.element(element, blockId, ctx));
        }
        break;
      case "input": {
        const label = document.createElement("label");
        label.className = "input-label";
        label.innerHTML = this.text(block.label) + (block.optional ? ' <span class="optional">(optional)</span>' : "");
        el.appendChild(label);
        el.appendChild(this.input(block.element, blockId));
        if (block.hint) {
          const hint = document.createElement("div");
          hint.className = "hint";
          hint.innerHTML = this.text(block.hint);
          el.appendChild(hint);
        }
        const error = ctx.errors && ctx.errors[blockId];
        if (error) {
          const problem = document.createElement("div");
          problem.className = "input-error";
          problem.textContent = error;
          el.appendChild(problem);
          el.classList.add("has-error");
        }
        break;
      }
      case "rich_text":
        el.textContent = JSON.stringify(block.elements).replace(/"text":"([^"]*)"|[^]/g, "$1");
        break;
      default:
        el.innerHTML = `<span class="unknown">[${esc(block.type)} block]</span>`;
    }
    return el;
  },

  image(url, alt, className) {
    const img = document.createElement("img");
    img.src = url;
    img.alt = alt || "";
    img.className = className;
    return img;
  },

  option(option) {
    return { text: option.text, value: option.value };
  },

  // An interactive element in a message, Home tab or modal (outside input blocks).
  element(element, blockId, ctx) {
    const base = { type: element.type, action_id: element.action_id, block_id: blockId };
    if (element.type === "button") {
      const button = document.createElement("button");
      button.type = "button";
      button.className = `bk-button ${element.style || ""}`;
      button.innerHTML = this.text(element.text);
      button.dataset.actionId = element.action_id || "";
      if (element.url) {
        button.addEventListener("click", () => window.open(element.url, "_blank", "noopener"));
      }
      button.addEventListener("click", () => ctx.onAction({
        ...base, text: element.text, ...(element.value !== undefined ? { value: element.value } : {}),
        ...(element.style ? { style: element.style } : {}),
      }, button));
      return button;
    }
    if (element.type === "static_select" || element.type === "overflow") {
      const select = document.createElement("select");
      select.className = "bk-select";
      select.dataset.actionId = element.action_id || "";
      const placeholder = document.createElement("option");
      placeholder.value = "";
      placeholder.textContent = element.placeholder ? element.placeholder.text : "⋯";
      select.appendChild(placeholder);
      const options = element.options || (element.option_groups || []).flatMap((g) => g.options);
      for (const option of options) {
        const item = document.createElement("option");
        item.value = option.value;
        item.textContent = unslack(option.text.text);
        select.appendChild(item);
      }
      if (element.initial_option) select.value = element.initial_option.value;
      select.addEventListener("change", () => {
        const chosen = options.find((o) => o.value === select.value);
        if (chosen) ctx.onAction({ ...base, selected_option: this.option(chosen) }, select);
      });
      return select;
    }
    if (element.type === "datepicker") {
      const input = document.createElement("input");
      input.type = "date";
      input.dataset.actionId = element.action_id || "";
      input.addEventListener("change", () => ctx.onAction({ ...base, selected_date: input.value }, input));
      return input;
    }
    if (element.type === "image") return this.image(element.image_url, element.alt_text, "accessory-image");
    const unknown = document.createElement("span");
    unknown.className = "unknown";
    unknown.textContent = `[${element.type}]`;
    return unknown;
  },

  // A form control inside a modal's input block; read back by values().
  input(element, blockId) {
    const wrap = document.createElement("div");
    wrap.className = "input-element";
    wrap.dataset.blockId = blockId;
    wrap.dataset.actionId = element.action_id;
    wrap.dataset.type = element.type;
    if (element.type === "plain_text_input") {
      const input = document.createElement(element.multiline ? "textarea" : "input");
      input.name = element.action_id;
      if (element.placeholder) input.placeholder = element.placeholder.text;
      if (element.initial_value) input.value = element.initial_value;
      if (element.max_length) input.maxLength = element.max_length;
      wrap.appendChild(input);
    } else if (element.type === "radio_buttons" || element.type === "checkboxes") {
      const kind = element.type === "radio_buttons" ? "radio" : "checkbox";
      for (const option of element.options || []) {
        const label = document.createElement("label");
        label.className = "choice";
        const input = document.createElement("input");
        input.type = kind;
        input.name = `${blockId}.${element.action_id}`;
        input.value = option.value;
        label.appendChild(input);
        const text = document.createElement("span");
        text.innerHTML = this.text(option.text);
        label.appendChild(text);
        wrap.appendChild(label);
      }
      if (element.initial_option) {
        const initial = wrap.querySelector(`input[value="${CSS.escape(element.initial_option.value)}"]`);
        if (initial) initial.checked = true;
      }
    } else if (element.type === "datepicker") {
      const input = document.createElement("input");
      input.type = "date";
      input.name = element.action_id;
      if (element.initial_date) input.value = element.initial_date;
      wrap.appendChild(input);
    } else if (element.type === "static_select") {
      const select = document.createElement("select");
      select.name = element.action_id;
      select.appendChild(new Option(element.placeholder ? element.placeholder.text : "Select…", ""));
      for (const option of element.options || []) select.appendChild(new Option(unslack(option.text.text), option.value));
      wrap.appendChild(select);
    } else {
      wrap.innerHTML = `<span class="unknown">[${esc(element.type)}]</span>`;
    }
    wrap._element = element;
    return wrap;
  },

  // view.state.values as Slack builds it from a modal's inputs.
  values(root) {
    const values = {};
    for (const wrap of root.querySelectorAll(".input-element")) {
      const element = wrap._element;
      const type = wrap.dataset.type;
      const state = { type };
      const options = element.options || [];
      if (type === "plain_text_input") {
        const value = wrap.querySelector("input, textarea").value;
        state.value = value === "" ? null : value;
      } else if (type === "radio_buttons") {
        const checked = wrap.querySelector("input:checked");
        const option = checked && options.find((o) => o.value === checked.value);
        state.selected_option = option ? { text: option.text, value: option.value } : null;
      } else if (type === "checkboxes") {
        const checked = [...wrap.querySelectorAll("input:checked")].map((i) => i.value);
        state.selected_options = options.filter((o) => checked.includes(o.value))
          .map((o) => ({ text: o.text, value: o.value }));
      } else if (type === "datepicker") {
        state.selected_date = wrap.querySelector("input").value || null;
      } else if (type === "static_select") {
        const value = wrap.querySelector("select").value;
        const option = options.find((o) => o.value === value);
        state.selected_option = option ? { text: option.text, value: option.value } : null;
      }
      values[wrap.dataset.blockId] = { ...(values[wrap.dataset.blockId] || {}), [wrap.dataset.actionId]: state };
    }
    return values;
  },
};
