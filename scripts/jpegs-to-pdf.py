"""Writes an image-only PDF, one page a JPEG, as a scanner would.

    python3 scripts/jpegs-to-pdf.py OUT.pdf DPI PAGE.jpg...

Used once to cut the small batch fixture in samples/batches/ from a larger
public batch; kept so the fixture can be made again.
"""
import struct
import sys


def jpeg_size(data):
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise ValueError("not a JPEG marker")
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            comps = data[i + 9]
            return w, h, comps
        i += 2 + length
    raise ValueError("no frame header")


def main():
    out, dpi, pages = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    objs = []
    kids = []
    for n, p in enumerate(pages):
        data = open(p, "rb").read()
        w, h, comps = jpeg_size(data)
        pw, ph = w * 72 / dpi, h * 72 / dpi
        img = 3 + 3 * n
        cs = "/DeviceGray" if comps == 1 else "/DeviceRGB"
        objs.append((img, b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace %s /BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n" % (w, h, cs.encode(), len(data)) + data + b"\nendstream"))
        content = b"q %.3f 0 0 %.3f 0 0 cm /Im0 Do Q" % (pw, ph)
        objs.append((img + 1, b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"))
        objs.append((img + 2, b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.3f %.3f] /Resources << /XObject << /Im0 %d 0 R >> >> /Contents %d 0 R >>" % (pw, ph, img, img + 1)))
        kids.append(img + 2)
    objs.append((1, b"<< /Type /Catalog /Pages 2 0 R >>"))
    objs.append((2, b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % k for k in kids), len(kids))))
    objs.sort()
    buf = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num, body in objs:
        offsets[num] = len(buf)
        buf += b"%d 0 obj\n" % num + body + b"\nendobj\n"
    xref = len(buf)
    buf += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for num in range(1, len(objs) + 1):
        buf += b"%010d 00000 n \n" % offsets[num]
    buf += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    open(out, "wb").write(buf)


if __name__ == "__main__":
    main()
