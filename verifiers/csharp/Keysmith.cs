// keysmith license verification in C#, on BouncyCastle (NuGet:
// BouncyCastle.Cryptography): license keys and computer licenses verified
// offline, signed answers of /v1/validate checked. The formats are in
// docs/formats.md; license/testdata/vectors.json are the vectors it must
// pass (see README.md in this folder: this machine has no .NET SDK, so
// make test does not build this sample).
using System;
using System.Collections.Generic;
using System.Text;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Crypto.Signers;

namespace Keysmith
{
    public sealed class InvalidLicenseException : Exception
    {
        public InvalidLicenseException(string why) : base(why) { }
    }

    public sealed record Claims(ushort KeyId, uint Product, uint Major, uint Minor, byte[] Features, uint Seats,
        string Model, string Issued, string Expires, string Maintenance, string Serial);

    public sealed record ComputerLicense(Claims Key, string ComputerId, uint Seat, string Issued, string CheckBy);

    public sealed class Verifier
    {
        const string Alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        static readonly string[] Models = { "permanent", "trial", "subscription" };
        static readonly string[] Bindings = { "", "_floating", "_cloud" };
        static readonly DateTime Epoch = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        readonly Dictionary<ushort, Ed25519PublicKeyParameters> ring = new();

        // publicKeys: id -> base64 of the 32-byte key, as GET /v1/keys gives them.
        public Verifier(IDictionary<ushort, string> publicKeys)
        {
            foreach (var (id, b64) in publicKeys)
                ring[id] = new Ed25519PublicKeyParameters(Convert.FromBase64String(b64), 0);
        }

        public Claims VerifyKey(string text)
        {
            var (payload, sig) = Split(text);
            var r = new Reader(payload);
            var c = ReadClaims(r);
            if (r.Pos != payload.Length) throw new InvalidLicenseException("trailing bytes");
            Check(c.KeyId, payload, sig);
            return c;
        }

        public ComputerLicense VerifyComputerLicense(string text)
        {
            var (payload, sig) = Split(text);
            var r = new Reader(payload);
            var key = ReadClaims(r);
            if (r.Pos == payload.Length || r.Byte() != 0x43) throw new InvalidLicenseException("not a computer license");
            var seat = (uint)r.Uvarint(key.Seats);
            var issued = r.Uvarint(65535);
            var checkBy = r.Uvarint(65535);
            var n = (int)r.Uvarint(256);
            if (payload.Length - r.Pos != n || seat == 0 || n == 0 || checkBy <= issued)
                throw new InvalidLicenseException("malformed");
            var computer = Encoding.UTF8.GetString(payload, r.Pos, n);
            Check(key.KeyId, payload, sig);
            return new ComputerLicense(key, computer, seat, Day(issued), Day(checkBy));
        }

        // Returns the answer's JSON text; the caller then checks the nonce it sent.
        public string VerifyAnswer(string answerBase64, ushort keyId, string signatureBase64)
        {
            var body = Convert.FromBase64String(answerBase64);
            var sig = Convert.FromBase64String(signatureBase64);
            if (sig.Length != 64) throw new InvalidLicenseException("malformed signature");
            var prefix = Encoding.ASCII.GetBytes("keysmith answer\0");
            var message = new byte[prefix.Length + body.Length];
            prefix.CopyTo(message, 0);
            body.CopyTo(message, prefix.Length);
            Check(keyId, message, sig);
            return Encoding.UTF8.GetString(body);
        }

        void Check(ushort keyId, byte[] message, byte[] sig)
        {
            if (!ring.TryGetValue(keyId, out var pub)) throw new InvalidLicenseException("unknown signing key");
            var v = new Ed25519Signer();
            v.Init(false, pub);
            v.BlockUpdate(message, 0, message.Length);
            if (!v.VerifySignature(sig)) throw new InvalidLicenseException("bad signature");
        }

        static (byte[], byte[]) Split(string text)
        {
            var raw = Decode(text);
            if (raw.Length < 64) throw new InvalidLicenseException("too short");
            return (raw[..^64], raw[^64..]);
        }

        static byte[] Decode(string text)
        {
            var bytes = new List<byte>();
            int acc = 0, bits = 0, chars = 0;
            foreach (var ch0 in text.ToUpperInvariant())
            {
                if (ch0 == '-' || char.IsWhiteSpace(ch0)) continue;
                var ch = ch0 == 'I' || ch0 == 'L' ? '1' : ch0 == 'O' ? '0' : ch0;
                var v = Alphabet.IndexOf(ch);
                if (v < 0 || ++chars > 1024) throw new InvalidLicenseException("not base32");
                acc = (acc << 5) | v;
                bits += 5;
                if (bits >= 8) { bits -= 8; bytes.Add((byte)(acc >> bits)); }
                acc &= (1 << bits) - 1;
            }
            if (bits >= 5 || acc != 0) throw new InvalidLicenseException("bad length or padding bits");
            return bytes.ToArray();
        }

        static string Day(ulong n) => Epoch.AddDays(n).ToString("yyyy-MM-dd");

        static Claims ReadClaims(Reader r)
        {
            var version = r.Byte();
            if (version != 1 && version != 2) throw new InvalidLicenseException("unknown format version");
            var keyId = (ushort)r.Uvarint(0xffff);
            var product = (uint)r.Uvarint(0xffffffff);
            var major = (uint)r.Uvarint(0xffffffff);
            var minor = (uint)r.Uvarint(0xffffffff);
            var features = new[] { r.Byte(), r.Byte(), r.Byte(), r.Byte() };
            var seats = (uint)r.Uvarint(0xffffffff);
            var model = r.Byte();
            var binding = version == 2 ? r.Byte() : (byte)0;
            var issued = r.Uvarint(65535);
            var expires = r.Uvarint(65535);
            var maintenance = version == 2 ? r.Uvarint(65535) : 0;
            var serial = Convert.ToHexString(r.Take(8)).ToLowerInvariant();
            if (seats == 0 || model > 2 || binding > 2) throw new InvalidLicenseException("bad claims");
            if ((expires != 0 && expires <= issued) || (maintenance != 0 && maintenance < issued))
                throw new InvalidLicenseException("bad dates");
            return new Claims(keyId, product, major, minor, features, seats, Models[model] + Bindings[binding],
                Day(issued), expires != 0 ? Day(expires) : "", maintenance != 0 ? Day(maintenance) : "", serial);
        }

        sealed class Reader
        {
            readonly byte[] buf;
            public int Pos;
            public Reader(byte[] b) { buf = b; }
            public byte Byte() => Pos < buf.Length ? buf[Pos++] : throw new InvalidLicenseException("truncated");
            public byte[] Take(int n) { if (Pos + n > buf.Length) throw new InvalidLicenseException("truncated"); var b = buf[Pos..(Pos + n)]; Pos += n; return b; }
            public ulong Uvarint(ulong max)
            {
                ulong v = 0;
                for (int shift = 0; shift < 70; shift += 7)
                {
                    var b = Byte();
                    v |= (ulong)(b & 0x7f) << shift;
                    if (b < 0x80) return v <= max ? v : throw new InvalidLicenseException("number out of range");
                }
                throw new InvalidLicenseException("varint too long");
            }
        }
    }
}
