() => {
  const problems = [];
  for (const s of document.querySelectorAll('script')) {
    const type = s.getAttribute('type') || '';
    const src = s.getAttribute('src') || '';
    if (type === 'application/ld+json' || type === 'importmap') continue;
    const path = src.startsWith(location.origin) ? src.slice(location.origin.length) : src;
    if (path.startsWith('/static/') || path === '/admin/jsi18n/') continue;
    if (type === 'module' && !src && s.nonce) continue;
    problems.push('script: ' + s.outerHTML.slice(0, 120));
  }
  for (const el of document.querySelectorAll('*')) {
    for (const attr of el.attributes) {
      const name = attr.name.toLowerCase();
      const value = attr.value.replace(/[\s\x00-\x1f]/g, '').toLowerCase();
      if (name.startsWith('on')) problems.push('handler: ' + el.outerHTML.slice(0, 120));
      if (['href', 'src', 'action', 'formaction', 'data', 'background', 'dynsrc']
          .includes(name) && (value.startsWith('javascript:') || value.startsWith('vbscript:')
          || value.startsWith('data:text/html')))
        problems.push('url: ' + el.outerHTML.slice(0, 120));
    }
  }
  for (const el of document.querySelectorAll('iframe, object, embed, frame, base, meta[http-equiv]')) {
    // The desk's email preview: a fully sandboxed frame (no scripts at all)
    // showing our own page, which the tests audit on its own.
    const src = el.getAttribute('src') || '';
    if (el.tagName === 'IFRAME' && el.getAttribute('sandbox') === '' && src.startsWith('/admin/')) continue;
    problems.push('element: ' + el.outerHTML.slice(0, 120));
  }
  return problems;
}
