"""The recipient-list checks' messages (written in English by the store) in Indonesian for
the office clerks who fix the files.  A message not matched here is shown as it is."""

from __future__ import annotations

import re

_Q = r"'(?P<v>[^']*)'"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), t) for p, t in (
    (r"^the file is empty or its first line \(the header\) is blank$", "berkas kosong atau baris pertamanya (judul kolom) kosong"),
    (r"^the file is empty$", "berkas kosong"),
    (r"^the file has a header but no rows$", "berkas hanya berisi judul kolom, tanpa baris data"),
    (r"^the first sheet is empty$", "lembar pertama kosong"),
    (r"^cannot read the workbook: (?P<v>.*)$", "buku kerja tidak bisa dibaca: {v}"),
    (r"^not UTF-8 text \(byte (?P<b>0x[0-9A-F]{2}) at position (?P<p>\d+)\); save the file as 'CSV UTF-8'$",
     "bukan teks UTF-8 (byte {b} di posisi {p}); simpan berkas sebagai 'CSV UTF-8'"),
    (r"^has (?P<a>\d+) fields but the header has (?P<b>\d+) .*$",
     "berisi {a} kolom, padahal judul berisi {b} (ada koma atau tanda kutip di dalam isian?)"),
    (r"^NIK is stored as a number; .*$",
     "NIK tersimpan sebagai angka; spreadsheet hanya menyimpan 15 digit (digit terakhir jadi 0): "
     "format kolom NIK sebagai Teks lalu ketik ulang"),
    (r"^missing column\(s\) (?P<v>[^;]+);.*$", "kolom wajib tidak ada: {v}"),
    (r"^column\(s\) (?P<v>.+) appear twice in the header$", "kolom {v} muncul dua kali di judul"),
    (r"^NIK is empty$", "NIK kosong"),
    (r"^NIK " + _Q + r" was turned into scientific notation by a spreadsheet; .*$",
     "NIK '{v}' diubah spreadsheet menjadi notasi ilmiah; format kolom NIK sebagai Teks lalu ekspor ulang"),
    (r"^NIK " + _Q + r" has a decimal part .*$", "NIK '{v}' memiliki angka desimal; format kolom sebagai Teks"),
    (r"^NIK must contain only digits$", "NIK hanya boleh berisi angka"),
    (r"^NIK has (?P<v>\d+) digits, expected 16$", "NIK berisi {v} angka, seharusnya 16"),
    (r"^NIK (?P<m>\S+): province code (?P<v>\d+) does not exist$", "NIK {m}: kode provinsi {v} tidak ada"),
    (r"^NIK (?P<m>\S+): regency/city code is 00$", "NIK {m}: kode kota/kabupaten 00"),
    (r"^NIK (?P<m>\S+): district code is 00$", "NIK {m}: kode kecamatan 00"),
    (r"^NIK (?P<m>\S+): birth day (?P<v>\d+) is impossible.*$",
     "NIK {m}: tanggal lahir {v} tidak mungkin (perempuan ditambah 40: 41-71)"),
    (r"^NIK (?P<m>\S+): birth month (?P<v>\d+) is impossible$", "NIK {m}: bulan lahir {v} tidak mungkin"),
    (r"^NIK (?P<m>\S+): serial number is 0000$", "NIK {m}: nomor urut 0000"),
    (r"^NIK (?P<m>\S+) appears more than once in the file$", "NIK {m} muncul lebih dari sekali di berkas"),
    (r"^name is empty$", "nama kosong"),
    (r"^status " + _Q + r" is unknown; use one of (?P<w>.*)$", "status '{v}' tidak dikenal; gunakan salah satu: {w}"),
    (r"^(?P<c>\w+) " + _Q + r" is not a date YYYY-MM-DD$", "{c} '{v}' bukan tanggal TTTT-BB-HH"),
    (r"^collection_time " + _Q + r" is not a time range HH:MM-HH:MM$",
     "collection_time '{v}' bukan rentang jam JJ:MM-JJ:MM"),
    (r"^collection_time " + _Q + r" ends before it starts$", "collection_time '{v}' berakhir sebelum dimulai"),
    (r"^status scheduled needs both collection_date and collection_time$",
     "status scheduled wajib punya collection_date dan collection_time"),
    (r"^status scheduled needs a place$", "status scheduled wajib punya place (tempat)"),
    (r"^collection_date and collection_time must both be given or both be empty$",
     "collection_date dan collection_time harus diisi keduanya atau dikosongkan keduanya"),
    (r"^phone was turned into scientific notation .*$",
     "nomor telepon diubah spreadsheet menjadi notasi ilmiah; format kolomnya sebagai Teks"),
    (r"^phone must be 8 to 15 digits.*$", "nomor telepon harus 8 sampai 15 angka (boleh diawali +)"),
    (r"^(?P<c>\w+) is longer than (?P<n>\d+) characters$", "{c} lebih dari {n} karakter"),
    (r"^\.\.\. and (?P<n>\d+) more problem\(s\) not listed$", "... dan {n} masalah lain tidak ditampilkan"),
    # a file that cannot be split into rows (the rest of it is not checked)
    (r"^line is longer than (?P<n>[\d,]+) bytes; .*$",
     "baris lebih dari {n} byte; sisa berkas tidak diperiksa (benarkah ini daftar penerima?)"),
    (r"^a value starting on this line is longer than (?P<n>[\d,]+) characters(?: \(it runs on to line (?P<m>\d+)\))?; .*$",
     "isian yang dimulai di baris ini lebih dari {n} karakter; tanda kutip (\") yang tidak ditutup membuat "
     "semua teks sesudahnya menjadi satu isian. Sisa berkas tidak diperiksa"),
    (r"^a quote \(\"\) opened here is never closed: .*$",
     "tanda kutip (\") yang dibuka di baris ini tidak pernah ditutup sampai akhir berkas; sisa berkas tidak diperiksa"),
    (r"^text follows a closing quote .*$",
     "ada teks sesudah tanda kutip penutup (\"); tanda kutip di dalam isian harus ditulis dua kali (\"\"). "
     "Sisa berkas tidak diperiksa"),
    (r"^a line break inside a value that is not quoted .*$",
     "ada pergantian baris di dalam isian tanpa tanda kutip (akhir baris gaya Mac lama?); simpan sebagai "
     "'CSV UTF-8'. Sisa berkas tidak diperiksa"),
    (r"^cannot be read as CSV \((?P<v>.*)\); .*$", "tidak bisa dibaca sebagai CSV ({v}); sisa berkas tidak diperiksa"),
    (r"^(?P<c>\w+) contains a control character \((?P<b>0x[0-9A-F]{2})\); .*$",
     "kolom {c} berisi karakter kendali ({b}); simpan ulang daftar sebagai teks (CSV UTF-8) atau buku kerja"),
    # workbooks
    (r"^not a valid \.xlsx workbook \((?P<v>.*)\)$", "bukan buku kerja .xlsx yang sah ({v})"),
    (r"^the workbook has (?P<n>[\d,]+) parts .*$", "buku kerja berisi {n} bagian (yang asli hanya puluhan); ditolak"),
    (r"^the workbook inflates to more than (?P<n>\d+) MB when opened .*$",
     "buku kerja membengkak lebih dari {n} MB saat dibuka; ditolak sebagai bom zip. Simpan sebagai CSV UTF-8 "
     "atau pecah daftarnya"),
    (r"^'(?P<f>[^']*)' inflates (?P<n>[\d,]+) times .*$",
     "bagian '{f}' membengkak {n} kali saat dibuka; tidak ada spreadsheet yang seperti itu. Ditolak sebagai bom zip"),
    (r"^the workbook needs more than (?P<n>\d+) MB of memory to read; .*$",
     "buku kerja butuh lebih dari {n} MB memori untuk dibaca; ditolak. Simpan sebagai CSV UTF-8"),
    (r"^the workbook could not be read to the end .*$",
     "buku kerja tidak bisa dibaca sampai selesai; simpan sebagai CSV UTF-8"),
    (r"^the sheet declares (?P<n>[\d,]+) rows; at most (?P<m>[\d,]+) are read$",
     "lembar kerja menyatakan {n} baris; paling banyak {m} yang dibaca"),
    (r"^the header has (?P<n>\d+) columns; .*$", "judul berisi {n} kolom; daftar penerima paling banyak 64 kolom"),
    (r"^the sheet has more than (?P<n>[\d,]+) rows; the rest was not read$",
     "lembar kerja berisi lebih dari {n} baris; sisanya tidak dibaca"),
))


def indonesian(reason: str) -> str:
    for pattern, template in _RULES:
        m = pattern.match(reason)
        if m:
            return template.format(**m.groupdict())
    return reason
