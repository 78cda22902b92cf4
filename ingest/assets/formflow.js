// formflow's pages: GOV.UK Frontend's components, and what formflow adds
// to its forms. Every form works without this script; it only saves keys
// and time.
import { initAll } from './govuk-frontend.min.js'

document.body.classList.add('js-enabled', 'govuk-frontend-supported')
initAll()

// The review page: move between fields with Enter, approve from the last
// field (or with Ctrl+Enter from any), and select a field's text on focus
// so that typing replaces it.
const form = document.getElementById('review-form')
if (form) {
  const approve = document.getElementById('approve')
  const submitApprove = () => {
    if (approve && !approve.disabled) form.requestSubmit(approve)
  }
  // One stop per field, in page order: its text input, its ticked radio
  // (or first), its tick box.
  const stops = () => {
    const seen = new Set()
    const out = []
    for (const el of form.querySelectorAll('.ff-value')) {
      if (el.disabled || seen.has(el.name)) continue
      seen.add(el.name)
      if (el.type === 'radio') {
        const ticked = form.querySelector(`input[type=radio][name="${CSS.escape(el.name)}"]:checked`)
        out.push(ticked || el)
      } else {
        out.push(el)
      }
    }
    return out
  }
  form.addEventListener('focusin', (e) => {
    if (e.target.matches('input[type=text]')) e.target.select()
  })
  // The field focused on load (before this script ran) too.
  if (document.activeElement instanceof HTMLInputElement && document.activeElement.type === 'text' && form.contains(document.activeElement)) {
    document.activeElement.select()
  }
  form.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return
    const t = e.target
    if (!(t instanceof HTMLInputElement)) return
    e.preventDefault()
    if (e.ctrlKey || e.metaKey) {
      submitApprove()
      return
    }
    const all = stops()
    let i = all.findIndex((s) => s.name === t.name)
    if (i < 0) {
      // A confirmation box: the next field after it.
      i = all.findIndex((s) => t.compareDocumentPosition(s) & Node.DOCUMENT_POSITION_FOLLOWING) - 1
    }
    if (i >= all.length - 1 || i < -1) submitApprove()
    else all[i + 1].focus()
  })
}

// The review lease: renewed while the caseworker works, with a warning
// before it runs out and a button to keep it (WCAG 2.2.1).
const lease = document.getElementById('lease')
if (lease) {
  const warning = document.getElementById('lease-warning')
  const text = document.getElementById('lease-warning-text')
  const shown = document.getElementById('lease-until')
  const keep = document.getElementById('lease-keep')
  let until = new Date(lease.dataset.until)
  let renewed = Date.now()
  let warned = false
  const hhmm = (d) => d.toISOString().slice(11, 16) + ' UTC'
  const renew = async () => {
    renewed = Date.now()
    try {
      const r = await fetch(lease.dataset.renew, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRF-Token': lease.dataset.csrf, Accept: 'application/json' }
      })
      const body = await r.json().catch(() => ({}))
      if (r.ok) {
        until = new Date(body.until)
        shown.textContent = hhmm(until)
        warning.hidden = true
        warned = false
      } else {
        text.textContent = body.detail ? body.detail.charAt(0).toUpperCase() + body.detail.slice(1) + '.' : 'Your hold on this document could not be renewed.'
        warning.hidden = false
      }
    } catch (_) {
      text.textContent = 'formflow could not be reached to keep your hold on this document. Your work is still on the page.'
      warning.hidden = false
    }
  }
  document.addEventListener('keydown', () => {
    if (Date.now() - renewed > 60000) renew()
  })
  keep.addEventListener('click', renew)
  setInterval(() => {
    const left = until - Date.now()
    if (left <= 0 && !warning.dataset.expired) {
      warning.dataset.expired = 'yes'
      text.textContent = 'Your hold on this document has ended, so another caseworker may take it. Keep working on it to take it back, if nobody has.'
      warning.hidden = false
    } else if (left > 0 && left < 120000 && !warned) {
      warned = true
      text.textContent = `Your hold on this document ends at ${hhmm(until)}, in under 2 minutes. Keep working on it, or it goes back to the queue.`
      warning.hidden = false
    } else if (left > 0) {
      delete warning.dataset.expired
    }
  }, 1000)
}

// A batch's page: follow its progress until every file is read.
const progress = document.getElementById('progress')
if (progress && progress.dataset.done !== 'true') {
  const poll = async () => {
    try {
      const r = await fetch(`/api/v1/batches/${progress.dataset.batch}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      if (r.ok) {
        const b = await r.json()
        if (b.done) {
          window.location.reload()
          return
        }
        const read = b.documents.filter((d) => d.status !== 'queued' && d.status !== 'processing').length
        progress.textContent = `${read} of ${b.documents.length} files read.`
      }
    } catch (_) {
      // Try again at the next tick.
    }
    setTimeout(poll, 3000)
  }
  setTimeout(poll, 3000)
}
