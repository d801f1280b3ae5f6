/** Minimal HTML helpers for the sandbox's own pages (console and OAuth picker). Chinese UI. */

export function esc(v: unknown): string {
  return String(v)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export function htmlPage(title: string, body: string): string {
  return `<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(title)}</title>
<style>
 body{font-family:-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;margin:0;background:#f5f6f7;color:#222}
 header{background:#07c160;color:#fff;padding:12px 20px;font-size:18px}
 main{padding:16px 20px;max-width:1100px}
 section{background:#fff;border-radius:6px;padding:12px 16px;margin-bottom:16px;box-shadow:0 1px 2px rgba(0,0,0,.06)}
 h2{font-size:16px;margin:4px 0 10px}
 table{border-collapse:collapse;width:100%;font-size:13px}
 th,td{border-bottom:1px solid #eee;padding:6px 8px;text-align:left;vertical-align:top}
 th{color:#666;font-weight:normal;background:#fafafa}
 button{border:0;border-radius:4px;padding:4px 10px;cursor:pointer;color:#fff}
 .ok{background:#07c160}.no{background:#fa5151}.muted{color:#999}
 .tag{display:inline-block;padding:0 6px;border-radius:3px;background:#eef;color:#335;font-size:12px}
 a.pick{display:block;padding:10px 12px;border-bottom:1px solid #eee;text-decoration:none;color:#222}
 a.pick:hover{background:#f0fff5}
 code{font-size:12px}
</style></head><body><header>${esc(title)}</header><main>${body}</main></body></html>`;
}
