"""Indonesian words for the codes the store keeps (outcomes, input modes, reasons ...)."""

from __future__ import annotations

OUTCOMES = {
    "answered": "Status disampaikan",
    "not_found": "NIK tidak terdaftar",
    "abandoned": "Ditutup sebelum selesai",
    "fault": "Gangguan sistem",
    "operator": "Disambungkan ke petugas",
    "callback": "Minta ditelepon balik",
    "message": "Meninggalkan pesan",
    "failed": "Gagal (input tidak dikenali)",
    "unknown": "Belum selesai",
}
INPUT_MODES = {"keypad": "Tombol", "speech": "Suara", "mixed": "Campuran", "none": "Tanpa input",
               "unknown": "Tidak diketahui"}
REASONS = {
    "not_found": "NIK tidak ditemukan",
    "complaint": "Pengaduan",
    "callback": "Permintaan telepon balik",
    "repeated_failure": "Gagal berulang",
    "system_fault": "Gangguan sistem",
    "rejected": "Tidak memenuhi syarat",
}
STATES = {"open": "Baru", "assigned": "Ditangani", "done": "Selesai"}
FOLLOW_UP_FILTERS = {"": "Semua", "any": "Ada tindak lanjut", "none": "Tanpa tindak lanjut",
                     "not_done": "Belum selesai", "open": "Baru", "assigned": "Ditangani", "done": "Selesai"}
RECIPIENT_STATUSES = {
    "scheduled": "Terjadwal", "not_scheduled": "Belum dijadwalkan", "collected": "Sudah diambil",
    "in_review": "Dalam peninjauan", "rejected": "Tidak termasuk", "not_found": "Tidak terdaftar",
}
EVENTS = {
    "prompt": "Memutar", "keys": "Tombol ditekan", "speech": "Suara terdengar", "no_input": "Tidak ada input",
    "lookup": "Pencarian data", "state": "Langkah", "fault": "Gangguan", "transfer": "Menyambungkan",
    "transfer_done": "Hasil sambungan", "follow_up": "Tindak lanjut dibuat", "end": "Panggilan berakhir",
    "recorded": "Rekaman", "nik_confirmed": "NIK dikonfirmasi",
}
PURPOSES = {"nik": "NIK", "confirm": "Konfirmasi", "complaint": "Pengaduan", "message": "Pesan",
            "other": "Lainnya"}
ROLES = {"operator": "Petugas", "admin": "Administrator"}
AUDIT_ACTIONS = {
    "reveal_call": "Membuka data panggilan", "reveal_recipient": "Membuka data penerima",
    "find_recipient": "Mencari penerima", "create_user": "Membuat akun", "update_user": "Mengubah akun",
    "create_follow_up": "Membuat tindak lanjut", "update_follow_up": "Mengubah tindak lanjut",
    "sign_in": "Masuk", "import_recipients": "Impor daftar penerima", "edit_prompt": "Mengubah teks suara",
    "record_prompt": "Merekam suara manusia", "restore_prompt": "Memakai lagi versi suara",
    "synthetic_prompt": "Kembali ke suara sintetis",
}


def label(table: dict[str, str], code: str | None) -> str:
    if not code:
        return table.get("unknown", "-")
    if code.startswith("speech:"):
        return "Ucapan (" + code.split(":", 1)[1] + ")"
    return table.get(code, code)


# What the call flow writes on a follow-up, in the operators' language; unknown text is shown as is.
DETAILS = {
    "caller hung up while recording a report": "Penelepon menutup telepon saat merekam laporan",
    "caller hung up while leaving a message": "Penelepon menutup telepon saat meninggalkan pesan",
    "caller hung up after repeated failures": "Penelepon menutup telepon setelah gagal berulang kali",
    "caller hung up while waiting for an operator": "Penelepon menutup telepon saat menunggu petugas",
    "no lookup result": "Pencarian data tidak memberi hasil",
    "NIK not in the recipient list": "NIK tidak ada di daftar penerima",
    "voice report recorded": "Laporan suara terekam",
    "offered a callback, no answer": "Ditawari telepon balik, tidak menjawab",
    "voice message left": "Pesan suara ditinggalkan",
    "no message could be recorded": "Pesan tidak bisa direkam",
    "no choice made after repeated failures": "Tidak memilih apa pun setelah gagal berulang kali",
    "the telephone connection to the service broke": "Sambungan telepon ke layanan terputus",
    "internal error during the call": "Kesalahan internal selama panggilan",
    "operator busy": "Petugas sibuk",
    "office closed": "Di luar jam kerja",
    "caller hung up": "Penelepon menutup telepon",
    "caller asked to be called back": "Penelepon minta ditelepon balik",
}


def detail(text: str | None) -> str:
    return DETAILS.get((text or "").strip(), text or "")
